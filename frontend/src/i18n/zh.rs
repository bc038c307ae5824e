//! Simplified Chinese (简体中文), the language of one of the two Adobe pages
//! this project starts from.

pub const STRINGS: super::Strings = super::Strings {
    tag: "zh-Hans",
    title: "请勿出售或共享我的个人信息",
    intro: "根据加利福尼亚州法律，您可以阻止出售或共享您的个人信息。",
    account_note: "您的选择将保存到您的账户，并在您登录的任何地方生效。",
    switch_label: "请勿出售或共享我的个人信息",
    opted_out: "开启：我们不会出售或共享您的个人信息。",
    opted_in: "关闭：您的个人信息可能会被出售或共享。",
    loading: "正在加载您当前的选择…",
    saving: "正在保存您的选择…",
    saved: "您的选择已保存。",
    recorded: "您的选择已记录。",
    pending: "您的选择已记录，将在几分钟内应用到您的账户。",
    retry: "重试",
    load_failed: "无法加载您当前的选择。请检查网络连接后重试。",
    save_failed: "无法保存您的选择，因此没有任何更改。请重试。",
    save_unconfirmed: "无法确认您的选择是否已保存：没有收到答复，但它可能已经保存。请重试。",
    signed_out: "请登录以查看和更改您的选择。",
    no_profile: "我们找不到您的客户记录。请联系我们，以便我们记录您的选择。",
    gpc_honored: "已遵从退出请求",
    gpc_explain: "您的浏览器发送了全球隐私控制（GPC）信号，因此我们不会出售或共享您的个人信息。\
                  如果您仍希望允许，请关闭开关。",
    gpc_waived: "您的浏览器发送了全球隐私控制（GPC）信号，但您选择了允许出售或共享您的个人信息。\
                 打开开关即可再次退出。",
    browser_note: "您尚未登录，因此此选择仅适用于此浏览器。登录后可将其同样应用于您的账户。",
    email_intro: "如需在我们保存您电子邮件地址的所有记录中选择退出，请在此输入。",
    email_label: "电子邮件地址",
    email_submit: "通过电子邮件选择退出",
    email_sent: "谢谢。我们在此地址下保存的所有记录都将退出出售和共享。",
    email_invalid: "请输入有效的电子邮件地址。",
    email_failed: "无法发送您的请求。请重试。",
    sensitive_label: "限制使用我的敏感个人信息",
    sensitive_on: "开：我们仅为提供您所要求的服务而使用您的敏感个人信息。",
    sensitive_off: "关：我们也可能将您的敏感个人信息用于其他目的。",
};
