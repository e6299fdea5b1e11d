//! Whether the address families are sent links to can be reached from their phones.

/// Whether `url` names this machine only: a loopback address (`127.0.0.0/8`, `::1`) or
/// `localhost` (and names under it).
pub fn is_loopback(url: &str) -> bool {
    match url::Url::parse(url).ok().as_ref().and_then(url::Url::host) {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_url_on_this_machine_only_is_told_apart() {
        for (url, loopback) in [
            ("http://127.0.0.1:8080", true),
            ("http://127.9.9.9", true),
            ("http://[::1]:8080", true),
            ("http://LOCALHOST:8080/", true),
            ("http://app.localhost", true),
            ("https://photos.northfield.example", false),
            ("http://192.168.1.20:8080", false),
            ("http://10.0.0.5", false),
            ("not a url", false),
        ] {
            assert_eq!(is_loopback(url), loopback, "{url}");
        }
    }
}
