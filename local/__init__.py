"""The local stack: moto's server as the embedded AWS, the API and SPA on one port, and a trigger
pump that feeds streams, S3 notifications and schedules to the real handlers. Not deployed."""
