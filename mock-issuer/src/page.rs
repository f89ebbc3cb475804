//! The pages a person sees: sign-in and consent, and errors that must not
//! be redirected. Server-rendered HTML, no JavaScript, readable on a phone.
//! Everything interpolated is escaped.

use std::fmt::Write;

use crate::authorize::{AuthorizeParams, ValidRequest};

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#1d1d1f}\
h1{font-size:1.4rem}.card{border:1px solid #ddd;border-radius:.75rem;padding:1rem 1.25rem}\
label{display:block;margin:.75rem 0 .25rem;font-weight:600}input[type=text],input[type=password]{width:100%;box-sizing:border-box;font-size:1rem;padding:.6rem;border:1px solid #bbb;border-radius:.5rem}\
.row{display:flex;gap:.75rem;margin-top:1.25rem}button{flex:1;font-size:1rem;padding:.7rem;border-radius:.5rem;border:1px solid #888;background:#fff}\
button.primary{background:#1d4ed8;color:#fff;border-color:#1d4ed8}.muted{color:#666;font-size:.9rem}.error{color:#b91c1c}code{word-break:break-all}";

fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

/// What the consent page needs beyond the request.
#[derive(Debug, Clone, Default)]
pub struct ConsentOptions<'a> {
    /// Shown when the last attempt failed (for example a wrong passcode).
    pub problem: Option<&'a str>,
    /// Ask for the one-time passcode printed in the terminal.
    pub ask_passcode: bool,
    /// Sign in as this user without asking.
    pub fixed_user: Option<&'a str>,
}

/// The sign-in and consent form; it posts the request back with the answer.
pub fn consent(
    params: &AuthorizeParams,
    request: &ValidRequest,
    options: &ConsentOptions<'_>,
) -> String {
    let client = &request.client;
    let name = client.client_name.as_deref().unwrap_or("An application");
    let mut hidden = String::new();
    let fields = [
        ("response_type", &params.response_type),
        ("client_id", &params.client_id),
        ("redirect_uri", &params.redirect_uri),
        ("state", &params.state),
        ("code_challenge", &params.code_challenge),
        ("code_challenge_method", &params.code_challenge_method),
        ("scope", &params.scope),
        ("resource", &params.resource),
    ];
    for (field, value) in fields {
        if let Some(value) = value {
            let _ = write!(
                hidden,
                "<input type=\"hidden\" name=\"{field}\" value=\"{}\">",
                escape(value)
            );
        }
    }
    let who = match options.fixed_user {
        Some(user) => format!("<p>You will sign in as <strong>{}</strong>.</p>", escape(user)),
        None => "<label for=\"who\">Your name or email</label>\
                 <input type=\"text\" id=\"who\" name=\"who\" required maxlength=\"64\" autocomplete=\"email\" autofocus>"
            .into(),
    };
    let passcode = if options.ask_passcode {
        "<label for=\"passcode\">One-time passcode</label>\
         <input type=\"password\" id=\"passcode\" name=\"passcode\" required inputmode=\"numeric\" autocomplete=\"one-time-code\">\
         <p class=\"muted\">Shown in the terminal that runs <code>devkit up</code>.</p>"
    } else {
        ""
    };
    let problem = options
        .problem
        .map(|p| format!("<p class=\"error\">{}</p>", escape(p)))
        .unwrap_or_default();
    let scope = if request.scope.is_empty() {
        "basic access"
    } else {
        request.scope.as_str()
    };
    let body = format!(
        "<h1>Sign in</h1><div class=\"card\">\
         <p><strong>{name}</strong> wants to use <code>{audience}</code> as you.</p>\
         <p class=\"muted\">Access: {scope}. After approving you return to <code>{redirect}</code>.</p>\
         {problem}<form method=\"post\" action=\"authorize\">{hidden}{who}{passcode}\
         <div class=\"row\"><button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\
         <button class=\"primary\" type=\"submit\" name=\"decision\" value=\"approve\">Approve</button></div>\
         </form></div><p class=\"muted\">Connector Devkit local sign-in. No password: this issuer is for building and demos.</p>",
        name = escape(name),
        audience = escape(&request.audience),
        scope = escape(scope),
        redirect = escape(&request.redirect_uri),
    );
    layout("Sign in", &body)
}

/// An error that must not go back to the client.
pub fn error(message: &str) -> String {
    // Protocol messages start lower-case; a page's sentence should not.
    let mut chars = message.chars();
    let sentence: String = chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default();
    layout(
        "Sign-in error",
        &format!(
            "<h1>Sign-in cannot continue</h1><div class=\"card\"><p class=\"error\">{}</p></div>",
            escape(&sentence)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_interpolated_is_escaped() {
        assert_eq!(
            escape(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        let page = error("<img src=x onerror=alert(1)>");
        assert!(!page.contains("<img"), "{page}");
    }
}
