//! Clerk's own vectors (clerk/javascript e21ae9a: `packages/shared/src/__tests__/
//! authorization.spec.ts`, `packages/backend/src/tokens/__tests__/authObjects.test.ts`,
//! `packages/clerk-js/.../Session.test.ts`), ported; then the document's own rules.
//! Vectors whose parameters are not strings (`{role: 123}`, `{permission: null}`) are start-up
//! errors here, tested as such.

use serde_json::{Value, json};

use super::*;

/// A session as Clerk's `AuthorizationOptions` describe it.
#[derive(Default)]
struct S {
    org_id: Option<&'static str>,
    org_role: Option<&'static str>,
    perms: Vec<String>,
    fea: Option<&'static str>,
    pla: Option<&'static str>,
    fva: Option<Vec<i64>>,
    is_admin: bool,
    /// A machine token's granted scopes (`None`: a session).
    scopes: Option<Vec<String>>,
    machine_id: Option<&'static str>,
    client_id: Option<&'static str>,
}

impl S {
    fn org(role: &'static str, perms: &[&str]) -> Self {
        Self {
            org_id: Some("org_123"),
            org_role: Some(role),
            perms: perms.iter().map(|p| (*p).to_owned()).collect(),
            fva: Some(vec![0, 0]),
            ..Self::default()
        }
    }

    fn check(&self, params: Value) -> Result<(), PolicyDenial> {
        let policy = parse_policy(&params, "test", 0).unwrap_or_else(|e| panic!("{params}: {e}"));
        let subject = Subject {
            session: Session {
                org_id: self.org_id,
                org_role: self.org_role,
                org_permissions: &self.perms,
                features: self.fea,
                plans: self.pla,
                factor_verification_age: self.fva.as_deref(),
            },
            is_admin: self.is_admin,
            scopes: self.scopes.as_deref(),
            machine_id: self.machine_id,
            client_id: self.client_id,
        };
        policy.check(&subject)
    }

    fn has(&self, params: Value) -> bool {
        self.check(params).is_ok()
    }
}

#[test]
fn features_by_scope() {
    // authorization.spec.ts 6-25.
    let s = S {
        fea: Some("o:reservations,u:dashboard"),
        pla: Some("free_user,plus_user"),
        fva: Some(vec![1000, 2000]),
        ..S::org("admin", &["org:read"])
    };
    for (feature, want) in [
        ("o:reservations", true),
        ("org:reservations", true),
        ("organization:reservations", true),
        ("reservations", true),
        ("u:dashboard", true),
        ("user:dashboard", true),
        ("dashboard", true),
    ] {
        assert_eq!(s.has(json!({ "feature": feature })), want, "{feature}");
    }
    // `lol:dashboard` is false in Clerk; here it never gets past start-up.
    assert!(parse_policy(&json!({ "feature": "lol:dashboard" }), "e", 0).is_err());
    // `pla` with entries lacking a colon matches no plan at all.
    assert_eq!(
        s.check(json!({ "plan": "free_user" })),
        Err(PolicyDenial::PlanRequired)
    );
}

#[test]
fn combined_dimensions_all_must_pass() {
    // authorization.spec.ts 157-187, 189-202, 263-293, 321-351.
    let s = S {
        fea: Some("o:reservations"),
        pla: Some("u:plus"),
        ..S::org("org:admin", &["org:sys_memberships:read"])
    };
    let cases = [
        (
            json!({ "permission": "org:sys_profile:delete", "feature": "org:reservations" }),
            Err(PolicyDenial::PermissionRequired),
        ),
        (
            json!({ "permission": "org:sys_memberships:read", "feature": "org:reservations" }),
            Ok(()),
        ),
        (
            json!({ "role": "org:admin", "permission": "org:sys_profile:delete" }),
            Err(PolicyDenial::PermissionRequired),
        ),
        (
            json!({ "role": "org:admin", "permission": "org:sys_memberships:read" }),
            Ok(()),
        ),
        (
            json!({ "feature": "org:reservations", "plan": "u:plus" }),
            Ok(()),
        ),
        (
            json!({ "feature": "org:reservations", "plan": "u:free" }),
            Err(PolicyDenial::PlanRequired),
        ),
        (
            json!({ "feature": "org:missing", "plan": "u:plus" }),
            Err(PolicyDenial::FeatureRequired),
        ),
        (
            json!({ "role": "org:member", "permission": "org:sys_memberships:read" }),
            Err(PolicyDenial::RoleRequired),
        ),
        (
            json!({ "role": "org:admin", "feature": "org:missing" }),
            Err(PolicyDenial::FeatureRequired),
        ),
        (
            json!({ "role": "org:admin", "plan": "u:free" }),
            Err(PolicyDenial::PlanRequired),
        ),
        (
            json!({ "role": "org:admin", "feature": "org:reservations" }),
            Ok(()),
        ),
        (
            json!({ "permission": "org:sys_memberships:read", "reverification": "strict" }),
            Ok(()),
        ),
        (
            json!({ "permission": "org:sys_memberships:read", "feature": "org:reservations", "reverification": "strict" }),
            Ok(()),
        ),
    ];
    for (params, want) in cases {
        assert_eq!(s.check(params.clone()), want, "{params}");
    }
    // 295-306: a feature missing from an empty claim, with reverification.
    let bare = S::org("org:admin", &["org:sys_profile:delete"]);
    assert_eq!(
        bare.check(json!({ "feature": "org:premium", "reverification": "strict" })),
        Err(PolicyDenial::FeatureRequired)
    );
    assert_eq!(
        bare.check(json!({ "feature": "org:premium" })),
        Err(PolicyDenial::FeatureRequired)
    );
}

#[test]
fn no_active_organization_fails_role_and_permission() {
    // authorization.spec.ts 92-116; authObjects.test.ts 81-99.
    let s = S {
        fva: Some(vec![0, 0]),
        ..S::default()
    };
    for params in [
        json!({ "permission": "org:sys_profile:delete", "reverification": "strict" }),
        json!({ "role": "org:admin", "reverification": "strict" }),
        json!({ "role": "org:admin" }),
        json!({ "role": "admin" }),
        json!({ "permission": "org:f1:read" }),
        json!({ "permission": "f1:read" }),
    ] {
        assert_eq!(
            s.check(params.clone()),
            Err(PolicyDenial::OrgRequired),
            "{params}"
        );
    }
    assert_eq!(
        s.check(json!({ "feature": "org:reservations" })),
        Err(PolicyDenial::FeatureRequired)
    );
    // Features do not look at the organization (Clerk relies on `o:` entries existing only
    // with one).
    let stray = S {
        fea: Some("o:reservations"),
        ..S::default()
    };
    assert!(stray.has(json!({ "feature": "org:reservations" })));
}

#[test]
fn roles_and_permissions_normalise_the_org_prefix() {
    // authObjects.test.ts 101-155 (v1, role `org:admin` and `admin`).
    for role in ["org:admin", "admin"] {
        let s = S::org(role, &["org:f1:read", "org:f2:manage"]);
        for (params, want) in [
            (json!({ "role": "org:admin" }), true),
            (json!({ "role": "admin" }), true),
            (json!({ "permission": "org:f1:read" }), true),
            (json!({ "permission": "f1:read" }), true),
            (json!({ "permission": "org:f1" }), false),
            (json!({ "permission": "org:f2:manage" }), true),
            (json!({ "permission": "org:f2" }), false),
            (json!({ "feature": "org:reservations" }), false),
        ] {
            assert_eq!(s.has(params.clone()), want, "{role} {params}");
        }
    }
    // 5.5 edges: a doubled prefix, case, an unprefixed stored permission.
    let s = S::org("org:org:admin", &["org:a:read"]);
    assert!(s.has(json!({ "role": "admin" })));
    assert!(s.has(json!({ "role": "org:org:admin" })));
    assert!(!s.has(json!({ "role": "ADMIN" })));
    assert!(s.has(json!({ "permission": "org:org:a:read" })));
    assert!(!S::org("admin", &["a:read"]).has(json!({ "permission": "a:read" })));
    // User-level permissions do not exist: `u:` is just part of the name.
    assert!(!s.has(json!({ "permission": "u:dashboard:read" })));
    // A session without a role fails a role check.
    let no_role = S {
        org_role: None,
        ..S::org("x", &[])
    };
    assert_eq!(
        no_role.check(json!({ "role": "admin" })),
        Err(PolicyDenial::RoleRequired)
    );
}

#[test]
fn v2_features_and_plans() {
    // authObjects.test.ts 222-298: fea with every scope, pla with two.
    let perms = [
        "org:reservations:manage",
        "org:support-chat:read",
        "org:support-chat:manage",
    ];
    let s = S {
        fea: Some("o:reservations,u:dashboard,uo:support-chat,o:impersonation"),
        pla: Some("u:pro,o:business"),
        ..S::org("org:member", &perms)
    };
    for (params, want) in [
        (json!({ "permission": "org:reservations:read" }), false),
        (json!({ "permission": "org:reservations:manage" }), true),
        (json!({ "permission": "org:support-chat:read" }), true),
        (json!({ "permission": "org:support-chat:manage" }), true),
        (json!({ "permission": "u:dashboard:manage" }), false),
        (json!({ "feature": "org:reservations" }), true),
        (json!({ "feature": "user:reservations" }), false),
        (json!({ "feature": "org:impersonation" }), true),
        (json!({ "feature": "user:impersonation" }), false),
        (json!({ "feature": "org:dashboard" }), false),
        (json!({ "feature": "user:dashboard" }), true),
        (json!({ "feature": "org:support-chat" }), true),
        (json!({ "feature": "user:support-chat" }), true),
        (json!({ "plan": "org:business" }), true),
        (json!({ "plan": "user:business" }), false),
        (json!({ "plan": "org:pro" }), false),
        (json!({ "plan": "user:pro" }), true),
        (json!({ "feature": "reservations" }), true),
        (json!({ "feature": "dashboard" }), true),
        (json!({ "feature": "pro" }), false),
        (json!({ "feature": "impersonation" }), true),
        (json!({ "plan": "pro" }), true),
        (json!({ "plan": "business" }), true),
        (json!({ "plan": "organization:business" }), true),
    ] {
        assert_eq!(s.has(params.clone()), want, "{params}");
    }
    // Claims that match nothing: an entry without a colon, unknown scopes.
    let broken = S {
        fea: Some("o:a,,u:b"),
        ..S::default()
    };
    assert!(!broken.has(json!({ "feature": "u:b" })));
    let odd = S {
        fea: Some(" o:a , x:b "),
        ..S::default()
    };
    assert!(odd.has(json!({ "feature": "a" })));
    assert!(!odd.has(json!({ "feature": "b" })));
}

/// Reverification: Session.test.ts 1095-1711 and authorization.spec.ts 217-377.
#[test]
fn reverification_levels_and_graceful_downgrade() {
    let mf = json!({ "level": "multi_factor", "afterMinutes": 10 });
    let ff = json!({ "level": "first_factor", "afterMinutes": 10 });
    let cases: &[(Option<&[i64]>, Value, bool)] = &[
        (Some(&[0, 0]), mf.clone(), true),
        (Some(&[0, 10]), mf.clone(), false),
        (Some(&[10, 0]), mf.clone(), false),
        (Some(&[0, -1]), mf.clone(), true),
        (Some(&[11, -1]), json!("strict"), false),
        (Some(&[0, -1]), json!("strict_mfa"), true),
        (Some(&[11, -1]), mf.clone(), false),
        (None, mf.clone(), false),
        (None, ff.clone(), false),
        (None, json!("strict"), false),
        (Some(&[-1, 0]), mf.clone(), false),
        (Some(&[-1, 0]), ff.clone(), false),
        (Some(&[-1, 0]), json!("strict"), true),
        (Some(&[-1, -1]), json!("strict"), false),
        (Some(&[-1, -1]), ff.clone(), false),
        // Strictly fresher than the limit: 9 passes 10, 10 does not.
        (Some(&[9, 9]), mf.clone(), true),
        (Some(&[10, 10]), ff.clone(), false),
        (Some(&[10, 10]), json!("strict"), false),
        (Some(&[9, 9]), json!("strict"), true),
        (Some(&[59, 59]), json!("moderate"), true),
        (Some(&[60, 60]), json!("moderate"), false),
        (Some(&[1439, 1439]), json!("lax"), true),
        (
            Some(&[5, 5]),
            json!({ "level": "first_factor", "afterMinutes": 5.5 }),
            true,
        ),
        (
            Some(&[5, 5]),
            json!({ "level": "first_factor", "afterMinutes": 5 }),
            false,
        ),
        // `fva` must be two ages, each -1 or at least 0.
        (Some(&[-2, 0]), json!("strict"), false),
        (Some(&[0, 0, 0]), json!("strict"), false),
        (Some(&[0]), json!("strict"), false),
    ];
    for (fva, config, want) in cases {
        let s = S {
            fva: fva.map(<[i64]>::to_vec),
            ..S::default()
        };
        let got = s.check(json!({ "reverification": config }));
        let expected = if *want {
            Ok(())
        } else {
            Err(PolicyDenial::ReverificationRequired)
        };
        assert_eq!(got, expected, "{fva:?} {config}");
    }
    // With an organization permission (authorization.spec.ts 353-377).
    let s = S {
        fva: Some(vec![0, -1]),
        ..S::org("org:admin", &["org:sys_memberships:read"])
    };
    assert!(
        s.has(json!({ "permission": "org:sys_memberships:read", "reverification": "strict_mfa" }))
    );
    let s = S {
        fva: Some(vec![-1, -1]),
        ..S::org("org:admin", &["org:sys_memberships:read"])
    };
    assert_eq!(
        s.check(json!({ "permission": "org:sys_memberships:read", "reverification": "strict" })),
        Err(PolicyDenial::ReverificationRequired)
    );
}

#[test]
fn invalid_parameters_are_start_up_errors() {
    // Where Clerk's has() answers false at run time (authorization.spec.ts 144-155, 230-261;
    // Session.test.ts 1400-1643), the document is refused when it is read.
    for (params, at) in [
        (json!({ "role": null }), "e.role"),
        (json!({ "permission": null }), "e.permission"),
        (json!({ "feature": null }), "e.feature"),
        (json!({ "plan": null }), "e.plan"),
        (json!({ "role": 123 }), "e.role"),
        (json!({ "permission": 123 }), "e.permission"),
        (json!({ "role": "" }), "e.role"),
        (json!({ "role": " admin" }), "e.role"),
        (
            json!({ "reverification": "invalid-value" }),
            "e.reverification",
        ),
        (json!({ "reverification": 123 }), "e.reverification"),
        (json!({ "reverification": null }), "e.reverification"),
        (
            json!({ "reverification": { "level": "multi_factor" } }),
            "e.reverification",
        ),
        (
            json!({ "reverification": { "level": "multi_factor", "afterMinutes": 0 } }),
            "e.reverification",
        ),
        (
            json!({ "reverification": { "level": "multi_factor", "afterMinutes": -1 } }),
            "e.reverification",
        ),
        (
            json!({ "reverification": { "level": "multiFactor", "afterMinutes": 10 } }),
            "e.reverification",
        ),
        (
            json!({ "reverification": { "level": "any level", "afterMinutes": 10 } }),
            "e.reverification",
        ),
        (
            json!({ "reverification": { "level": "first_factor", "afterMinutes": "10" } }),
            "e.reverification",
        ),
        (
            json!({ "reverification": { "level": "first_factor", "afterMinutes": 10, "x": 1 } }),
            "e.reverification",
        ),
        (json!({ "feature": "lol:dashboard" }), "e.feature"),
        (json!({ "feature": "O:reservations" }), "e.feature"),
        (json!({ "feature": ":x" }), "e.feature"),
        (json!({ "feature": "org:" }), "e.feature"),
        (json!({ "feature": "org:a:b" }), "e.feature"),
        (json!({ "plan": "team:pro" }), "e.plan"),
        (json!({ "rol": "admin" }), "e.rol"),
        (json!({ "admin": false }), "e.admin"),
        (json!({ "admin": "true" }), "e.admin"),
        (json!({ "any_of": [] }), "e.any_of"),
        (json!({ "any_of": {} }), "e.any_of"),
        (
            json!({ "any_of": [{ "role": "admin" }, { "plan": 1 }] }),
            "e.any_of[1].plan",
        ),
        (json!({}), "e"),
        (json!({ "any_of": [{}] }), "e.any_of[0]"),
        (json!("admin"), "e"),
    ] {
        let error = parse_policy(&params, "e", 0).unwrap_err();
        assert_eq!(error.entry, at, "{params}: {error}");
    }
    let deep = json!({ "any_of": [{ "any_of": [{ "any_of": [{ "any_of": [{ "any_of": [{ "admin": true }] }] }] }] }] });
    assert_eq!(
        parse_policy(&deep, "e", 0).unwrap_err().reason,
        "nested too deep"
    );
}

#[test]
fn admin_and_any_of_are_ours() {
    let member = S::org("org:member", &[]);
    let admin = S {
        is_admin: true,
        ..S::default()
    };
    assert_eq!(
        member.check(json!({ "admin": true })),
        Err(PolicyDenial::AdminRequired)
    );
    assert!(admin.has(json!({ "admin": true })));
    let either = json!({ "any_of": [{ "role": "org:admin" }, { "admin": true }] });
    assert!(admin.has(either.clone()));
    assert!(S::org("admin", &[]).has(either.clone()));
    // None passes: the first alternative's denial.
    assert_eq!(member.check(either), Err(PolicyDenial::RoleRequired));
    // Keys beside any_of must pass too.
    let both = json!({ "plan": "pro", "any_of": [{ "admin": true }] });
    assert_eq!(admin.check(both.clone()), Err(PolicyDenial::PlanRequired));
    let pro_admin = S {
        pla: Some("u:pro"),
        is_admin: true,
        ..S::default()
    };
    assert!(pro_admin.has(both));
    // Reverification is asked last, and only when everything else passes.
    let s = S {
        fva: Some(vec![100, 100]),
        ..S::org("org:member", &[])
    };
    assert_eq!(
        s.check(json!({ "role": "admin", "reverification": "strict" })),
        Err(PolicyDenial::RoleRequired)
    );
    assert_eq!(
        s.check(json!({ "role": "member", "reverification": "strict" })),
        Err(PolicyDenial::ReverificationRequired)
    );
}

#[test]
fn documents_parse_and_name_the_entry_at_fault() {
    let doc = PolicyDocument::parse(
        r#"{
            "GET /reports": { "permission": "org:reports:read" },
            "ANY /admin/{proxy+}": { "admin": true },
            "$default": { "feature": "app" }
        }"#,
    )
    .unwrap();
    assert_eq!(doc.routes().count(), 3);
    let key = RouteKey::parse("GET /reports").unwrap();
    assert_eq!(
        doc.for_route_key(&key)
            .and_then(|p| p.permission.as_deref()),
        Some("org:reports:read")
    );
    let (route, policy) = doc.for_request("DELETE", &["admin", "users", "1"]).unwrap();
    assert_eq!(
        (route.to_string().as_str(), policy.admin),
        ("ANY /admin/{proxy+}", true)
    );
    let (route, _) = doc.for_request("GET", &["elsewhere"]).unwrap();
    assert_eq!(*route, RouteKey::Default);
    assert!(PolicyDocument::parse("").unwrap().is_empty());
    assert!(PolicyDocument::parse("  ").unwrap().is_empty());
    assert!(PolicyDocument::parse("{}").unwrap().is_empty());

    for (text, entry, reason) in [
        (
            "[]",
            "document",
            "expected an object of route keys to policies",
        ),
        ("{", "document", "not JSON (line 1, column 1)"),
        (
            r#"{"/reports": {"admin": true}}"#,
            "\"/reports\"",
            "no space after the method",
        ),
        (
            r#"{"GET reports": {"admin": true}}"#,
            "\"GET reports\"",
            "the path must start with /",
        ),
        (
            r#"{"GET /x": {"admin": true}, "GET /x": {"admin": true}}"#,
            "\"GET /x\"",
            "the same route as another entry",
        ),
        (
            r#"{"GET /u/{id}": {"admin": true}, "GET /u/{user}": {"admin": true}}"#,
            "\"GET /u/{user}\"",
            "the same route as another entry",
        ),
        (
            r#"{"GET /x": {"reverification": "sometimes"}}"#,
            "\"GET /x\".reverification",
            "unknown preset (strict_mfa, strict, moderate, lax)",
        ),
        (
            r#"{"GET /x": {"feature": "team:x"}}"#,
            "\"GET /x\".feature",
            "the scope must be o, org, organization, u or user",
        ),
    ] {
        let error = PolicyDocument::parse(text).unwrap_err();
        assert_eq!(
            (error.entry.as_str(), error.reason.as_str()),
            (entry, reason),
            "{text}"
        );
    }
}

#[test]
fn the_reverification_error_body_is_clerks() {
    let policy = parse_policy(&json!({ "reverification": "strict" }), "e", 0).unwrap();
    assert_eq!(
        reverification_error_body(policy.reverification_asked()),
        json!({ "clerk_error": { "type": "forbidden", "reason": "reverification-error", "metadata": { "reverification": "strict" } } })
    );
    let custom = json!({ "level": "second_factor", "afterMinutes": 5 });
    let policy =
        parse_policy(&json!({ "any_of": [{ "reverification": custom }] }), "e", 0).unwrap();
    assert_eq!(
        reverification_error_body(policy.reverification_asked())["clerk_error"]["metadata"]["reverification"],
        json!({ "level": "second_factor", "afterMinutes": 5 })
    );
    assert_eq!(
        reverification_error_body(None),
        json!({ "clerk_error": { "type": "forbidden", "reason": "reverification-error", "metadata": {} } })
    );
}

#[test]
fn codes_are_unique_kebab_case() {
    let mut seen = std::collections::HashSet::new();
    for denial in PolicyDenial::ALL {
        let code = denial.code();
        assert!(seen.insert(code), "{code} twice");
        assert!(
            code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
            "{code}"
        );
    }
}

fn machine(scopes: &[&str]) -> S {
    S {
        scopes: Some(scopes.iter().map(|s| (*s).to_owned()).collect()),
        ..S::default()
    }
}

#[test]
fn scopes_must_each_be_granted_to_a_machine_token() {
    let asked = json!({ "scopes": ["read:reports", "write:reports"] });
    assert_eq!(
        machine(&["read:reports", "write:reports", "x"]).check(asked.clone()),
        Ok(())
    );
    assert_eq!(
        machine(&["read:reports"]).check(asked.clone()),
        Err(PolicyDenial::ScopeRequired)
    );
    assert_eq!(
        machine(&[]).check(asked.clone()),
        Err(PolicyDenial::ScopeRequired)
    );
    // A session has no scopes: it never passes a scope check, whatever its claims.
    let admin = S {
        is_admin: true,
        ..S::org("org:admin", &["org:reports:read"])
    };
    assert_eq!(admin.check(asked), Err(PolicyDenial::ScopeRequired));
    // Exact strings: no prefix, case or wildcard matching.
    for granted in [
        &["READ:reports"][..],
        &["read:*"],
        &["read:reports "],
        &["read"],
    ] {
        assert_eq!(
            machine(granted).check(json!({ "scopes": ["read:reports"] })),
            Err(PolicyDenial::ScopeRequired),
            "{granted:?}"
        );
    }
    // A session's dimensions refuse a machine (no organization, no factors): fail closed.
    let tools = machine(&["read:reports"]);
    assert_eq!(
        tools.check(json!({ "role": "admin" })),
        Err(PolicyDenial::OrgRequired)
    );
    assert_eq!(
        tools.check(json!({ "scopes": ["read:reports"], "reverification": "lax" })),
        Err(PolicyDenial::ReverificationRequired)
    );
    assert_eq!(
        tools.check(json!({ "any_of": [{ "admin": true }, { "scopes": ["read:reports"] }] })),
        Ok(())
    );
}

#[test]
fn accepts_names_the_token_types_a_route_takes() {
    let policy = |value: Value| parse_policy(&value, "test", 0).unwrap();
    let only_session = policy(json!({ "admin": true }));
    assert!(only_session.accepts(TokenType::SessionToken));
    for machine in [
        TokenType::M2mToken,
        TokenType::ApiKey,
        TokenType::OAuthToken,
    ] {
        assert!(
            !only_session.accepts(machine),
            "{machine:?}: nothing opens by accident"
        );
    }
    let m2m = policy(json!({ "accepts": ["m2m_token"] }));
    assert!(m2m.accepts(TokenType::M2mToken));
    assert!(
        !m2m.accepts(TokenType::SessionToken),
        "listing types replaces the default"
    );
    // `accepts` alone asks nothing more: every accepted caller passes.
    assert_eq!(m2m.check(&Subject::default()), Ok(()));
    let both = policy(json!({ "accepts": ["session_token", "api_key"], "scopes": ["x"] }));
    assert!(both.accepts(TokenType::SessionToken) && both.accepts(TokenType::ApiKey));
}

#[test]
fn machine_keys_refused_at_start_up() {
    let refused = [
        (json!({ "accepts": [] }), "test.accepts"),
        (json!({ "accepts": "m2m_token" }), "test.accepts"),
        (json!({ "accepts": ["m2m"] }), "test.accepts"),
        (json!({ "accepts": ["M2M_TOKEN"] }), "test.accepts"),
        (json!({ "accepts": ["any"] }), "test.accepts"),
        (json!({ "accepts": ["api_key", "api_key"] }), "test.accepts"),
        (json!({ "accepts": [1] }), "test.accepts"),
        (
            json!({ "any_of": [{ "accepts": ["m2m_token"] }] }),
            "test.any_of[0].accepts",
        ),
        (json!({ "scopes": [] }), "test.scopes"),
        (json!({ "scopes": "read" }), "test.scopes"),
        (json!({ "scopes": ["read write"] }), "test.scopes"),
        (json!({ "scopes": ["a,b"] }), "test.scopes"),
        (json!({ "scopes": [""] }), "test.scopes"),
        (json!({ "scopes": ["caf\u{e9}"] }), "test.scopes"),
        (json!({ "scopes": [7] }), "test.scopes"),
    ];
    for (value, entry) in refused {
        let error = parse_policy(&value, "test", 0).unwrap_err();
        assert_eq!(error.entry, entry, "{value}: {error}");
    }
    let error = parse_policy(&json!({ "accepts": ["m2m"] }), "test", 0).unwrap_err();
    assert!(
        error
            .reason
            .contains("session_token, m2m_token, api_key, oauth_token"),
        "{error}"
    );
}

#[test]
fn machines_and_clients_name_who_may_call() {
    let runner = S {
        machine_id: Some("mch_runner"),
        ..machine(&[])
    };
    let app = S {
        client_id: Some("client_calendar"),
        ..machine(&["calendar:read"])
    };
    let machines = json!({ "machines": ["mch_runner", "mch_other"] });
    assert_eq!(runner.check(machines.clone()), Ok(()));
    assert_eq!(
        app.check(machines.clone()),
        Err(PolicyDenial::MachineNotAllowed)
    );
    assert_eq!(
        S::default().check(machines),
        Err(PolicyDenial::MachineNotAllowed)
    );
    let clients = json!({ "clients": ["client_calendar"], "scopes": ["calendar:read"] });
    assert_eq!(app.check(clients.clone()), Ok(()));
    assert_eq!(runner.check(clients), Err(PolicyDenial::ScopeRequired));
    assert_eq!(
        runner.check(json!({ "clients": ["client_calendar"] })),
        Err(PolicyDenial::ClientNotAllowed)
    );
    // Either a certified scope or a named machine.
    let either =
        json!({ "any_of": [{ "scopes": ["mch_receiver"] }, { "machines": ["mch_runner"] }] });
    assert_eq!(runner.check(either.clone()), Ok(()));
    assert_eq!(machine(&["mch_receiver"]).check(either), Ok(()));
    for (value, entry) in [
        (json!({ "machines": [] }), "test.machines"),
        (json!({ "machines": ["user_1"] }), "test.machines"),
        (json!({ "machines": ["mch_"] }), "test.machines"),
        (json!({ "clients": [""] }), "test.clients"),
        (json!({ "clients": "client_1" }), "test.clients"),
    ] {
        let error = parse_policy(&value, "test", 0).unwrap_err();
        assert_eq!(error.entry, entry, "{value}: {error}");
    }
}
