//! The reference pages a user reads against what the code does.

use shared::Config;

/// Every variable the configuration reads (and the secrets' names) is in the configuration
/// page: the list is taken from the reads themselves, so it cannot drift.
#[test]
fn every_variable_read_is_documented() {
    let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
    let record = |vars: &[(&str, &str)]| {
        let _ = Config::from_lookup(|name| {
            asked.borrow_mut().insert(name.to_owned());
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        });
    };
    record(&[]);
    // The bypass's own checks read the endpoint variables.
    record(&[("AUTH_DISABLED", "true"), ("STAGE", "dev")]);
    let mut names = asked.into_inner();
    assert!(names.len() > 20, "{names:?}");
    names.extend(
        [
            shared::secrets::SECRET_KEY_VAR,
            shared::secrets::WEBHOOK_SECRET_VAR,
            shared::secrets::JWT_KEY_VAR,
        ]
        .map(str::to_owned),
    );
    testkit::assert_documented("configuration", names.iter().map(String::as_str));
}
