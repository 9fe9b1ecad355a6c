// Sign-in: the local stack's demo-user picker, or the stage's OIDC provider.
import { demoUsers, signInDemo, signInOidc, stageConfig } from "../auth.js";
import { busy, errorBox, h, mount, ROLE } from "../ui.js";

export async function render(view) {
  const cfg = await stageConfig();
  const slot = h("div");
  if (cfg.auth?.mode === "oidc") {
    const button = h("button", { type: "button", class: "primary", onclick: () => busy(button, () => signInOidc(cfg.auth), slot) },
      "使用企业账号登录");
    mount(view, h("section", { class: "signin card" }, h("h1", {}, "登录"), slot, button));
    return;
  }
  let users;
  try {
    users = await demoUsers();
  } catch (err) {
    mount(view, errorBox(err));
    return;
  }
  const pick = (user) => async (event) => {
    await busy(event.currentTarget, async () => {
      await signInDemo(user.user_id);
      location.hash = "#/leads";
    }, slot);
  };
  mount(view, h("section", { class: "signin" },
    h("h1", {}, "选择演示用户登录"),
    h("p", { class: "muted" }, "本地环境：令牌由本地开发签名服务签发，仅用于演示。"),
    slot,
    ["rep", "supervisor", "admin"].map((role) => [
      h("h2", {}, ROLE[role]),
      h("div", { class: "users" }, users.filter((u) => u.role === role).map((u) =>
        h("button", { type: "button", "data-user": u.user_id, onclick: pick(u) }, u.name, h("br"),
          h("span", { class: "muted" }, u.user_id)))),
    ])));
}
