//! Spanish (Español), California's second language.

pub const STRINGS: super::Strings = super::Strings {
    tag: "es",
    title: "No vender ni compartir mi información personal",
    intro: "La ley de California le permite impedir la venta o el intercambio de su información \
            personal.",
    account_note: "Su elección se guarda en su cuenta y se aplica dondequiera que inicie sesión.",
    switch_label: "No vender ni compartir mi información personal",
    opted_out: "Activado: no vendemos ni compartimos su información personal.",
    opted_in: "Desactivado: su información personal puede venderse o compartirse.",
    loading: "Cargando su elección actual…",
    saving: "Guardando su elección…",
    saved: "Su elección se ha guardado.",
    recorded: "Su elección ha quedado registrada.",
    pending: "Su elección está registrada y se aplicará a su cuenta en unos minutos.",
    retry: "Intentar de nuevo",
    load_failed: "No pudimos cargar su elección actual. Compruebe su conexión e inténtelo de nuevo.",
    save_failed: "No pudimos guardar su elección, así que nada ha cambiado. Inténtelo de nuevo.",
    save_unconfirmed: "No pudimos confirmar que su elección se guardara: no llegó respuesta, \
                       aunque puede que se haya guardado. Inténtelo de nuevo.",
    signed_out: "Inicie sesión para ver y cambiar su elección.",
    no_profile: "No encontramos su registro de cliente. Póngase en contacto con nosotros para \
                 que podamos registrar su elección.",
    gpc_honored: "Solicitud de exclusión respetada",
    gpc_explain: "Su navegador envió una señal de Control Global de Privacidad (GPC), por lo que \
                  no vendemos ni compartimos su información personal.",
    gpc_conflict: "Esto reemplaza su decisión anterior de permitirlo. Para permitirlo de todos \
                   modos, desactive el interruptor.",
    gpc_waived: "Su navegador envía una señal de Control Global de Privacidad (GPC), pero usted \
                 eligió permitir la venta o el intercambio de su información personal. Active el \
                 interruptor para volver a excluirse.",
    browser_note: "No ha iniciado sesión, así que esta elección solo se aplica a este navegador. \
                   Inicie sesión para aplicarla también a su cuenta.",
    email_intro: "Para excluirse en todos los registros con su correo electrónico, escríbalo aquí.",
    email_label: "Correo electrónico",
    email_submit: "Excluirme por correo electrónico",
    email_sent: "Gracias. Todos los registros que tenemos con esta dirección quedarán excluidos de \
                 la venta y el intercambio.",
    email_invalid: "Escriba una dirección de correo electrónico válida.",
    email_failed: "No pudimos enviar su solicitud. Inténtelo de nuevo.",
    sensitive_label: "Limitar el uso de mi información personal confidencial",
    sensitive_on: "Activado: usamos su información personal confidencial solo para prestar los servicios que solicita.",
    sensitive_off: "Desactivado: también podemos usar su información personal confidencial para otros fines.",
    busy_load: "Acabamos de recibir muchas solicitudes. Volveremos a intentarlo en un momento.",
    busy_save: "Acabamos de recibir muchos cambios, así que este no se ha guardado. Inténtelo de nuevo en un momento.",
};
