//! A browser signed in to the pages, as the page tests drive them: the sign-in form with its CSRF
//! cookie, the session cookie, and each page's CSRF token.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use super::server::TestServer;

/// A client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().unwrap()
}

/// The value of `name="csrf"` in a page.
pub fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("the page has a CSRF field") + "name=\"csrf\" value=\"".len();
    html[at..at + 64].to_string()
}

/// The value a `Set-Cookie` header gives `name`.
pub fn cookie_value(response: &reqwest::Response, name: &str) -> Option<(String, String)> {
    response.headers().get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let (pair, _) = v.split_once(';').unwrap_or((v, ""));
        let (k, value) = pair.split_once('=')?;
        (k == name).then(|| (value.to_string(), v.to_string()))
    })
}

/// A signed-in browser: its session cookie and the CSRF token its pages carry.
pub struct Browser {
    /// `cg_session=…`, as a `Cookie` header.
    pub cookie: String,
    /// The CSRF token its pages carry.
    pub csrf: String,
}

/// Signs in with `token` through the sign-in page, as a browser does.
pub async fn sign_in(server: &TestServer, token: &str) -> Browser {
    let c = client();
    let form = c.get(format!("{}/signin", server.base)).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let (pre, _) = cookie_value(&form, "cg_signin").expect("the sign-in form sets its CSRF cookie");
    let csrf = csrf_in(&form.text().await.unwrap());
    let answer = c
        .post(format!("{}/signin", server.base))
        .header(COOKIE, format!("cg_signin={pre}"))
        .form(&[("csrf", csrf.as_str()), ("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "signed in");
    let (secret, _) = cookie_value(&answer, "cg_session").expect("a session cookie");
    let cookie = format!("cg_session={secret}");
    let home = c.get(format!("{}/", server.base)).header(COOKIE, &cookie).send().await.unwrap();
    let page = home.headers()[LOCATION].to_str().unwrap().to_string();
    let html =
        c.get(format!("{}{page}", server.base)).header(COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
    Browser { cookie, csrf: csrf_in(&html) }
}

impl Browser {
    /// `GET path` with the session cookie, redirects not followed.
    pub async fn get(&self, server: &TestServer, path: &str) -> reqwest::Response {
        client().get(format!("{}{path}", server.base)).header(COOKIE, &self.cookie).send().await.unwrap()
    }
    /// Posts `fields` as a form to `path` with the session cookie.
    pub async fn post_form(&self, server: &TestServer, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        client().post(format!("{}{path}", server.base)).header(COOKIE, &self.cookie).form(fields).send().await.unwrap()
    }
}
