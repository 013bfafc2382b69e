//! API Gateway route keys (`GET /users/{id}`, `ANY /admin/{proxy+}`, `$default`) and how
//! API Gateway matches a request to one: `{param}` is one path segment, `{proxy+}` one or
//! more (last only), `ANY` any method, and of several matches the most specific wins (a
//! literal segment before a parameter before a greedy one, left to right; then a named
//! method before `ANY`).

use std::cmp::Ordering;
use std::fmt;

/// Why a route key is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key:?} is not a route key ({reason}); expected `METHOD /path` or `$default`")]
pub struct RouteKeyError {
    /// The key as written.
    pub key: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// One path segment of a route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A fixed segment.
    Literal(String),
    /// `{name}`: exactly one segment (the name does not take part in matching).
    Param,
    /// `{name+}`: one or more segments, last only.
    Greedy,
}

/// A route key as API Gateway writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteKey {
    /// `$default`: the HTTP API's catch-all route.
    Default,
    /// `METHOD /path`.
    Route {
        /// Upper case; `None` for `ANY`.
        method: Option<String>,
        /// The path, segment by segment (none for `/`).
        segments: Vec<Segment>,
    },
}

/// The methods a route key may name.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

impl RouteKey {
    /// Parses `METHOD /path` or `$default`.
    pub fn parse(key: &str) -> Result<Self, RouteKeyError> {
        let refuse = |reason| RouteKeyError {
            key: key.to_owned(),
            reason,
        };
        if key == "$default" {
            return Ok(Self::Default);
        }
        let (method, path) = key
            .split_once(' ')
            .ok_or_else(|| refuse("no space after the method"))?;
        let method = match method {
            "ANY" => None,
            m if METHODS.contains(&m) => Some(m.to_owned()),
            _ => {
                return Err(refuse(
                    "the method must be GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY",
                ));
            }
        };
        let rest = path
            .strip_prefix('/')
            .ok_or_else(|| refuse("the path must start with /"))?;
        let mut segments = Vec::new();
        let parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        for (i, part) in parts.iter().enumerate() {
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(name) if valid_name(name) && i + 1 == parts.len() => Segment::Greedy,
                    Some(name) if valid_name(name) => {
                        return Err(refuse("a greedy {name+} must be the last segment"));
                    }
                    Some(_) => return Err(refuse("a parameter name is letters, digits and _")),
                    None if valid_name(name) => Segment::Param,
                    None => return Err(refuse("a parameter name is letters, digits and _")),
                },
                None if part.is_empty() => return Err(refuse("empty path segment")),
                None if part.contains(['{', '}', ' ', '?', '#', '*']) => {
                    return Err(refuse(
                        "a literal segment holds none of { } * ? # or spaces",
                    ));
                }
                None => Segment::Literal((*part).to_owned()),
            };
            segments.push(segment);
        }
        Ok(Self::Route { method, segments })
    }

    /// How well this route matches `method` and `path` (segments, no empty ones): `None`
    /// when it does not; of two matches the greater is the more specific. `$default` is not
    /// matched here: it is what applies when nothing else does.
    pub fn matches(&self, method: &str, path: &[&str]) -> Option<Specificity> {
        let Self::Route {
            method: own,
            segments,
        } = self
        else {
            return None;
        };
        if own.as_deref().is_some_and(|m| m != method) {
            return None;
        }
        let mut ranks = Vec::with_capacity(segments.len());
        for (i, segment) in segments.iter().enumerate() {
            match segment {
                Segment::Literal(text) => {
                    if path.get(i) != Some(&text.as_str()) {
                        return None;
                    }
                    ranks.push(2);
                }
                Segment::Param => {
                    path.get(i).filter(|s| !s.is_empty())?;
                    ranks.push(1);
                }
                Segment::Greedy => {
                    // One or more segments: the rest of the path, not empty.
                    if path.len() <= i {
                        return None;
                    }
                    ranks.push(0);
                    return Some(Specificity {
                        ranks,
                        named_method: own.is_some(),
                    });
                }
            }
        }
        (path.len() == segments.len()).then_some(Specificity {
            ranks,
            named_method: own.is_some(),
        })
    }

    /// The IAM resource pattern (`{VERB}/{path}` after `{api}/{stage}/`) that covers every
    /// request this route can match: parameters become `*`. IAM's `*` also spans `/`, so the
    /// pattern covers deeper paths too: a superset, never less.
    pub fn arn_pattern(&self) -> Option<String> {
        let Self::Route { method, segments } = self else {
            return None;
        };
        let path: Vec<&str> = segments
            .iter()
            .map(|s| match s {
                Segment::Literal(text) => text.as_str(),
                Segment::Param | Segment::Greedy => "*",
            })
            .collect();
        Some(format!(
            "{}/{}",
            method.as_deref().unwrap_or("*"),
            path.join("/")
        ))
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self::Route { method, segments } = self else {
            return f.write_str("$default");
        };
        write!(f, "{} ", method.as_deref().unwrap_or("ANY"))?;
        if segments.is_empty() {
            return f.write_str("/");
        }
        for segment in segments {
            match segment {
                Segment::Literal(text) => write!(f, "/{text}")?,
                Segment::Param => f.write_str("/{param}")?,
                Segment::Greedy => f.write_str("/{proxy+}")?,
            }
        }
        Ok(())
    }
}

/// How specific a match is: per segment, literal (2) > parameter (1) > greedy (0), compared
/// left to right; then a named method over `ANY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specificity {
    ranks: Vec<u8>,
    named_method: bool,
}

impl PartialOrd for Specificity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Specificity {
    fn cmp(&self, other: &Self) -> Ordering {
        for (a, b) in self.ranks.iter().zip(&other.ranks) {
            match a.cmp(b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        // Same ranks as far as both go: a longer literal/parameter prefix is more specific
        // than a greedy tail that began earlier (the ranks differ there already), so only the
        // method is left.
        self.ranks
            .len()
            .cmp(&other.ranks.len())
            .then(self.named_method.cmp(&other.named_method))
    }
}

/// Whether an IAM resource pattern (`*`: any run of characters, `/` included) covers `text`.
pub fn pattern_covers(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The method and path segments of a REST `methodArn`
/// (`arn:aws:execute-api:{region}:{account}:{api}/{stage}/{VERB}/{path…}`); `None` when it
/// has none, or a path that is not in its plain form (an empty segment, a percent escape):
/// the IAM policy answered is checked against the ARN as written, so a path matched only
/// after cleaning it up could slip past the patterns that refuse its route.
pub fn method_and_path(method_arn: &str) -> Option<(&str, Vec<&str>)> {
    let resource = method_arn.splitn(6, ':').nth(5)?;
    let mut parts = resource.splitn(4, '/');
    let (_api, _stage, method) = (parts.next()?, parts.next()?, parts.next()?);
    let path = parts.next()?;
    if method.is_empty() || path.contains('%') {
        return None;
    }
    if path.is_empty() {
        return Some((method, Vec::new()));
    }
    let segments: Vec<&str> = path.split('/').collect();
    segments
        .iter()
        .all(|s| !s.is_empty())
        .then_some((method, segments))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> RouteKey {
        RouteKey::parse(text).unwrap()
    }

    #[test]
    fn route_keys_parse_as_api_gateway_writes_them() {
        assert_eq!(key("$default"), RouteKey::Default);
        assert_eq!(key("GET /users/{id}").to_string(), "GET /users/{param}");
        assert_eq!(
            key("ANY /admin/{proxy+}").to_string(),
            "ANY /admin/{proxy+}"
        );
        assert_eq!(key("GET /").to_string(), "GET /");
        for (bad, reason) in [
            ("/users", "no space after the method"),
            ("GET users", "the path must start with /"),
            (
                "FETCH /users",
                "the method must be GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY",
            ),
            (
                "get /users",
                "the method must be GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY",
            ),
            ("GET /users//x", "empty path segment"),
            ("GET /users/", "empty path segment"),
            (
                "GET /{proxy+}/x",
                "a greedy {name+} must be the last segment",
            ),
            ("GET /{}", "a parameter name is letters, digits and _"),
            ("GET /{a-b}", "a parameter name is letters, digits and _"),
            (
                "GET /a*b",
                "a literal segment holds none of { } * ? # or spaces",
            ),
            ("default", "no space after the method"),
        ] {
            assert_eq!(RouteKey::parse(bad).unwrap_err().reason, reason, "{bad}");
        }
    }

    /// The route of `routes` that API Gateway would pick for `method path`.
    fn pick<'a>(routes: &[&'a str], method: &str, path: &str) -> Option<&'a str> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        routes
            .iter()
            .filter_map(|r| key(r).matches(method, &segments).map(|s| (s, *r)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, r)| r)
    }

    #[test]
    fn the_most_specific_route_wins() {
        let routes = [
            "GET /users/{id}",
            "GET /users/me",
            "ANY /users/{id}",
            "ANY /{proxy+}",
            "GET /users/{id}/{proxy+}",
            "PATCH /users/{id}",
            "GET /",
        ];
        assert_eq!(pick(&routes, "GET", "/users/me"), Some("GET /users/me"));
        assert_eq!(pick(&routes, "GET", "/users/42"), Some("GET /users/{id}"));
        assert_eq!(
            pick(&routes, "DELETE", "/users/42"),
            Some("ANY /users/{id}")
        );
        assert_eq!(
            pick(&routes, "PATCH", "/users/42"),
            Some("PATCH /users/{id}")
        );
        assert_eq!(
            pick(&routes, "GET", "/users/42/avatar/big"),
            Some("GET /users/{id}/{proxy+}")
        );
        assert_eq!(
            pick(&routes, "POST", "/reports/2026"),
            Some("ANY /{proxy+}")
        );
        assert_eq!(pick(&routes, "GET", "/"), Some("GET /"));
        // `{proxy+}` needs at least one segment; `{id}` exactly one.
        assert_eq!(pick(&["ANY /admin/{proxy+}"], "GET", "/admin"), None);
        assert_eq!(pick(&["GET /users/{id}"], "GET", "/users/1/2"), None);
        assert_eq!(pick(&["GET /users/{id}"], "GET", "/users"), None);
    }

    #[test]
    fn arn_patterns_cover_every_match() {
        assert_eq!(
            key("GET /users/{id}").arn_pattern().as_deref(),
            Some("GET/users/*")
        );
        assert_eq!(
            key("ANY /admin/{proxy+}").arn_pattern().as_deref(),
            Some("*/admin/*")
        );
        assert_eq!(key("GET /").arn_pattern().as_deref(), Some("GET/"));
        assert_eq!(key("$default").arn_pattern(), None);
    }

    #[test]
    fn iam_patterns_span_slashes() {
        assert!(pattern_covers("GET/users/*", "GET/users/42"));
        assert!(pattern_covers("GET/users/*", "GET/users/42/avatar"));
        assert!(!pattern_covers("GET/users/*", "GET/users"));
        assert!(!pattern_covers("GET/users/*", "POST/users/42"));
        assert!(pattern_covers("*/admin/*", "DELETE/admin/x"));
        assert!(pattern_covers("GET/", "GET/"));
        assert!(!pattern_covers("GET/", "GET/x"));
        assert!(pattern_covers("*/a/*/b", "GET/a/1/2/b"));
        assert!(!pattern_covers("*/a/*/b", "GET/a/1/2/c"));
    }

    #[test]
    fn method_arns_give_method_and_path() {
        assert_eq!(
            method_and_path("arn:aws:execute-api:eu-west-1:123456789012:abc/prod/GET/users/42"),
            Some(("GET", vec!["users", "42"]))
        );
        assert_eq!(
            method_and_path("arn:aws:execute-api:eu-west-1:123456789012:abc/prod/GET/"),
            Some(("GET", vec![]))
        );
        assert_eq!(
            method_and_path("arn:aws:execute-api:eu-west-1:1:abc/prod"),
            None
        );
        assert_eq!(method_and_path("garbage"), None);
        // Not in plain form: no route, rather than a route the answer's patterns miss.
        for arn in [
            "arn:aws:execute-api:eu-west-1:1:abc/prod/GET",
            "arn:aws:execute-api:eu-west-1:1:abc/prod/GET//users/1",
            "arn:aws:execute-api:eu-west-1:1:abc/prod/GET/users/",
            "arn:aws:execute-api:eu-west-1:1:abc/prod/GET/%61dmin/x",
        ] {
            assert_eq!(method_and_path(arn), None, "{arn}");
        }
    }
}
