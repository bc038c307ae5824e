//! German (Deutsch).

pub const STRINGS: super::Strings = super::Strings {
    tag: "de",
    title: "Meine personenbezogenen Daten nicht verkaufen oder weitergeben",
    intro: "Nach kalifornischem Recht können Sie den Verkauf und die Weitergabe Ihrer \
            personenbezogenen Daten untersagen.",
    account_note: "Ihre Wahl wird in Ihrem Konto gespeichert und gilt überall, wo Sie sich \
                   anmelden.",
    switch_label: "Meine personenbezogenen Daten nicht verkaufen oder weitergeben",
    opted_out: "Ein: Wir verkaufen Ihre personenbezogenen Daten nicht und geben sie nicht weiter.",
    opted_in: "Aus: Ihre personenbezogenen Daten dürfen verkauft oder weitergegeben werden.",
    loading: "Ihre aktuelle Wahl wird geladen…",
    saving: "Ihre Wahl wird gespeichert…",
    saved: "Ihre Wahl wurde gespeichert.",
    recorded: "Ihre Wahl wurde erfasst.",
    pending: "Ihre Wahl ist erfasst und gilt in wenigen Minuten für Ihr Konto.",
    retry: "Erneut versuchen",
    load_failed: "Ihre aktuelle Wahl konnte nicht geladen werden. Bitte prüfen Sie Ihre \
                  Verbindung und versuchen Sie es erneut.",
    save_failed: "Ihre Wahl konnte nicht gespeichert werden; es hat sich nichts geändert. \
                  Bitte versuchen Sie es erneut.",
    save_unconfirmed: "Wir konnten nicht bestätigen, dass Ihre Wahl gespeichert wurde: Es kam \
                       keine Antwort, doch sie kann gespeichert sein. Bitte versuchen Sie es erneut.",
    signed_out: "Bitte melden Sie sich an, um Ihre Wahl zu sehen und zu ändern.",
    no_profile: "Wir konnten Ihr Kundenkonto nicht finden. Bitte kontaktieren Sie uns, damit wir \
                 Ihre Wahl erfassen können.",
    gpc_honored: "Widerspruch berücksichtigt",
    gpc_explain: "Ihr Browser hat ein Global-Privacy-Control-Signal (GPC) gesendet, daher \
                  verkaufen wir Ihre personenbezogenen Daten nicht und geben sie nicht weiter.",
    gpc_conflict: "Das ersetzt Ihre frühere Entscheidung, es zu erlauben. Wenn Sie es dennoch \
                   erlauben möchten, schalten Sie den Schalter aus.",
    gpc_waived: "Ihr Browser sendet ein Global-Privacy-Control-Signal (GPC), aber Sie haben den \
                 Verkauf oder die Weitergabe Ihrer personenbezogenen Daten erlaubt. Schalten Sie \
                 den Schalter ein, um erneut zu widersprechen.",
    browser_note: "Sie sind nicht angemeldet; diese Wahl gilt daher nur für diesen Browser. Melden \
                   Sie sich an, um sie auch für Ihr Konto zu übernehmen.",
    email_intro: "Um überall zu widersprechen, wo wir Ihre E-Mail-Adresse führen, geben Sie sie \
                  hier ein.",
    email_label: "E-Mail-Adresse",
    email_submit: "Per E-Mail widersprechen",
    email_sent: "Danke. Für jeden Datensatz unter dieser Adresse werden Verkauf und Weitergabe \
                 ausgeschlossen.",
    email_invalid: "Bitte geben Sie eine gültige E-Mail-Adresse ein.",
    email_failed: "Ihre Anfrage konnte nicht gesendet werden. Bitte versuchen Sie es erneut.",
    sensitive_label: "Die Verwendung meiner sensiblen personenbezogenen Daten einschränken",
    sensitive_on: "Ein: Wir verwenden Ihre sensiblen personenbezogenen Daten nur für die Leistungen, die Sie anfordern.",
    sensitive_off: "Aus: Wir dürfen Ihre sensiblen personenbezogenen Daten auch für andere Zwecke verwenden.",
    busy_load: "Gerade kamen viele Anfragen an. Wir versuchen es gleich noch einmal.",
    busy_save: "Gerade kamen viele Änderungen an, daher wurde diese nicht gespeichert. Bitte versuchen Sie es gleich noch einmal.",
};
