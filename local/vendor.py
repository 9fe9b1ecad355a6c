"""Vendors Apache ECharts into web/vendor/ (`make vendor`): the one minified file the dashboard
loads, with its licence and notice, from the npm package at a pinned version.

The SPA has no build step; this is the only third-party code it serves. `npm pack` checks the
package against the registry's integrity hash; the file's SHA-256 is then checked against the one
pinned here, so an update is a deliberate edit of VERSION and SHA256 together."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "6.1.0"
SHA256 = "b66b25aeb4df84e33199dc21694014d336d222cbd9deb0e5a7c14bd6aa0d0fd0"
TARGET = Path(__file__).resolve().parent.parent / "web" / "vendor"
FILES = {"package/dist/echarts.min.js": "echarts.min.js", "package/LICENSE": "ECHARTS-LICENSE.txt",
         "package/NOTICE": "ECHARTS-NOTICE.txt"}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"echarts@{VERSION}", "--silent", "--pack-destination", tmp], check=True,
                       stdout=subprocess.DEVNULL)
        with tarfile.open(Path(tmp) / f"echarts-{VERSION}.tgz") as archive:
            found = {name: archive.extractfile(name) for name in FILES}
            data = {name: member.read() for name, member in found.items() if member is not None}
    if set(data) != set(FILES):
        print(f"echarts {VERSION}: missing {sorted(set(FILES) - set(data))}", file=sys.stderr)
        return 1
    digest = hashlib.sha256(data["package/dist/echarts.min.js"]).hexdigest()
    if digest != SHA256:
        print(f"echarts {VERSION}: dist/echarts.min.js has SHA-256 {digest}, expected {SHA256}", file=sys.stderr)
        return 1
    TARGET.mkdir(parents=True, exist_ok=True)
    for name, out in FILES.items():
        (TARGET / out).write_bytes(data[name])
    print(f"web/vendor/: echarts {VERSION} ({len(data['package/dist/echarts.min.js']) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
