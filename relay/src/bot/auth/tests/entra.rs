//! Single-tenant bots: Entra-issued tokens of the configured tenant, beside
//! the Bot Framework's own.

use super::*;

#[tokio::test]
async fn v1_token_of_the_tenant_is_accepted_without_serviceurl() {
    let fake = Fake::start().await;
    let auth = fake.tenant_auth();
    let token = entra_bearer(&entra_claims(&v1_issuer(TENANT)));
    check(&auth, &token).await.unwrap();
    // Entra keys carry no endorsements: no channel is singled out.
    check_on(&auth, &token, SERVICE_URL, "webchat")
        .await
        .unwrap();
    // Only the Entra key set was fetched, once.
    assert_eq!((fake.hits(), fake.entra_hits()), ((0, 0), 1));
}

#[tokio::test]
async fn v2_token_of_the_tenant_is_accepted_and_a_serviceurl_in_it_must_match() {
    let fake = Fake::start().await;
    let auth = fake.tenant_auth();
    check(&auth, &entra_bearer(&entra_claims(&v2_issuer(TENANT))))
        .await
        .unwrap();
    let mut c = entra_claims(&v2_issuer(TENANT));
    c["serviceurl"] = json!(SERVICE_URL);
    check(&auth, &entra_bearer(&c)).await.unwrap();
    c["serviceurl"] = json!("https://evil.example/emea/");
    assert!(matches!(
        check(&auth, &entra_bearer(&c)).await,
        Err(AuthError::ServiceUrl { .. })
    ));
    // A key published with Entra's `{tenantid}` placeholder stands for the tenant.
    let templated = format!(
        "Bearer {}",
        sign_with(
            &entra_claims(&v2_issuer(TENANT)),
            "entra-template-key",
            other_key()
        )
    );
    check(&auth, &templated).await.unwrap();
    assert_eq!(fake.entra_hits(), 1);
}

#[tokio::test]
async fn other_tenants_are_refused() {
    let fake = Fake::start().await;
    let auth = fake.tenant_auth();
    for iss in [
        v1_issuer(OTHER_TENANT),
        v2_issuer(OTHER_TENANT),
        // Near misses of the tenant's own issuers.
        format!("https://sts.windows.net/{TENANT}"),
        format!("https://login.microsoftonline.com/{TENANT}/"),
        format!("https://login.microsoftonline.com/{TENANT}/v2.0/"),
        format!("https://login.microsoftonline.us/{TENANT}/v2.0"),
        "https://login.microsoftonline.com/common/v2.0".to_string(),
        "https://login.microsoftonline.com/{tenantid}/v2.0".to_string(),
    ] {
        let mut c = entra_claims(&iss);
        c["tid"] = json!(OTHER_TENANT);
        match check(&auth, &entra_bearer(&c)).await {
            Err(AuthError::Issuer(found)) => assert_eq!(found, iss),
            other => panic!("{iss}: {other:?}"),
        }
    }
    // An issuer we do not trust costs no key fetch.
    assert_eq!((fake.hits(), fake.entra_hits()), ((0, 0), 0));

    // The tenant's issuer with another tenant's tid.
    let mut c = entra_claims(&v2_issuer(TENANT));
    c["tid"] = json!(OTHER_TENANT);
    match check(&auth, &entra_bearer(&c)).await {
        Err(AuthError::Tenant(found)) => assert_eq!(found, OTHER_TENANT),
        other => panic!("{other:?}"),
    }
    // No tid at all is fine: the issuer names the tenant.
    c.as_object_mut().unwrap().remove("tid");
    check(&auth, &entra_bearer(&c)).await.unwrap();
}

#[tokio::test]
async fn a_key_published_for_another_tenant_is_refused() {
    let fake = Fake::start().await;
    let auth = fake.tenant_auth();
    let token = format!(
        "Bearer {}",
        sign_with(&entra_claims(&v1_issuer(TENANT)), "msa-key", other_key())
    );
    match check(&auth, &token).await {
        Err(AuthError::KeyIssuer(found)) => assert!(found.contains("9188040d"), "{found}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let fake = Fake::start().await;
    let auth = fake.tenant_auth();
    for aud in [
        json!("another-bot"),
        json!(format!("api://{APP_ID}")),
        json!([]),
    ] {
        let mut c = entra_claims(&v2_issuer(TENANT));
        c["aud"] = aud.clone();
        assert!(
            matches!(
                check(&auth, &entra_bearer(&c)).await,
                Err(AuthError::Audience(_))
            ),
            "{aud}"
        );
    }
    let mut c = entra_claims(&v1_issuer(TENANT));
    c.as_object_mut().unwrap().remove("aud");
    assert!(matches!(
        check(&auth, &entra_bearer(&c)).await,
        Err(AuthError::Audience(_))
    ));
}

#[tokio::test]
async fn unknown_keys_are_refused() {
    let fake = Fake::start().await;
    let auth = fake.tenant_auth();
    let token = format!(
        "Bearer {}",
        sign_with(
            &entra_claims(&v2_issuer(TENANT)),
            "no-such-kid",
            other_key()
        )
    );
    match check(&auth, &token).await {
        Err(AuthError::UnknownKey(k)) => assert_eq!(k, "no-such-kid"),
        other => panic!("{other:?}"),
    }
    // Looked for in the Entra set only (one fetch), never in the other.
    assert_eq!((fake.hits(), fake.entra_hits()), ((0, 0), 1));
}

#[tokio::test]
async fn a_key_of_one_issuer_never_validates_a_token_of_the_other() {
    let fake = Fake::start().await;
    let auth = fake.tenant_auth();
    // An Entra issuer, signed with a Bot Framework key: not in the Entra set.
    let entra_by_bf = format!(
        "Bearer {}",
        sign_with(&entra_claims(&v1_issuer(TENANT)), KID, main_key())
    );
    assert!(matches!(
        check(&auth, &entra_by_bf).await,
        Err(AuthError::UnknownKey(_))
    ));
    // The Bot Framework issuer, signed with an Entra key.
    let bf_by_entra = format!("Bearer {}", sign_with(&claims(), ENTRA_KID, other_key()));
    assert!(matches!(
        check(&auth, &bf_by_entra).await,
        Err(AuthError::UnknownKey(_))
    ));
    // Even under a kid both sets publish, the issuer's own set decides.
    fake.state.entra_jwks.lock().unwrap()["keys"]
        .as_array_mut()
        .unwrap()
        .push(entra_jwk(KID, other_key(), &v2_issuer(TENANT)));
    auth.entra
        .as_ref()
        .unwrap()
        .1
        .cache
        .lock()
        .await
        .refresh_due = Some(Instant::now());
    let bf_by_entra = format!("Bearer {}", sign_with(&claims(), KID, other_key()));
    assert!(matches!(
        check(&auth, &bf_by_entra).await,
        Err(AuthError::Signature)
    ));
    let entra_by_bf = format!(
        "Bearer {}",
        sign_with(&entra_claims(&v2_issuer(TENANT)), KID, main_key())
    );
    assert!(matches!(
        check(&auth, &entra_by_bf).await,
        Err(AuthError::Signature)
    ));
    // The genuine articles still pass.
    check(&auth, &bearer(&claims())).await.unwrap();
    let genuine = format!(
        "Bearer {}",
        sign_with(&entra_claims(&v2_issuer(TENANT)), KID, other_key())
    );
    check(&auth, &genuine).await.unwrap();
}

#[tokio::test]
async fn without_a_tenant_entra_tokens_are_refused_as_before() {
    let fake = Fake::start().await;
    let auth = fake.auth();
    for iss in [v1_issuer(TENANT), v2_issuer(TENANT)] {
        match check(&auth, &entra_bearer(&entra_claims(&iss))).await {
            Err(AuthError::Issuer(found)) => assert_eq!(found, iss),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((fake.hits(), fake.entra_hits()), ((0, 0), 0));
    // The Bot Framework's tokens are unaffected by a tenant either way.
    check(&auth, &bearer(&claims())).await.unwrap();
    check(&fake.tenant_auth(), &bearer(&claims()))
        .await
        .unwrap();
}

#[tokio::test]
async fn each_key_set_has_its_own_cache() {
    let fake = Fake::start().await;
    let auth = fake.tenant_auth();
    *fake.state.entra_status.lock().unwrap() = StatusCode::SERVICE_UNAVAILABLE;
    match check(&auth, &entra_bearer(&entra_claims(&v1_issuer(TENANT)))).await {
        Err(AuthError::Keys { set, detail }) => {
            assert_eq!(set, "Entra");
            assert!(detail.contains("503"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    // Entra being down does not touch the Bot Framework's keys.
    check(&auth, &bearer(&claims())).await.unwrap();
    // Nor is it asked again before the retry delay is over.
    assert!(matches!(
        check(&auth, &entra_bearer(&entra_claims(&v1_issuer(TENANT)))).await,
        Err(AuthError::Keys { .. })
    ));
    assert_eq!((fake.hits(), fake.entra_hits()), ((1, 1), 1));
    *fake.state.entra_status.lock().unwrap() = StatusCode::OK;
    let entra = &auth.entra.as_ref().unwrap().1;
    entra.cache.lock().await.retry_after = Some(Instant::now());
    check(&auth, &entra_bearer(&entra_claims(&v1_issuer(TENANT))))
        .await
        .unwrap();
    {
        let cache = entra.cache.lock().await;
        let age = MAX_KEY_AGE - cache.refresh_due.unwrap().duration_since(Instant::now());
        assert!(age < Duration::from_secs(60), "due 24 h after the fetch");
    }
    // An unknown Entra kid refreshes the Entra set once an hour, not the other.
    let unknown = format!(
        "Bearer {}",
        sign_with(&entra_claims(&v1_issuer(TENANT)), "rolled", other_key())
    );
    for _ in 0..3 {
        assert!(matches!(
            check(&auth, &unknown).await,
            Err(AuthError::UnknownKey(_))
        ));
    }
    assert_eq!((fake.hits(), fake.entra_hits()), ((1, 1), 3));
    // The Bot Framework set's own unknown-kid allowance is untouched.
    let bf_unknown = format!("Bearer {}", sign_with(&claims(), "rolled", main_key()));
    assert!(matches!(
        check(&auth, &bf_unknown).await,
        Err(AuthError::UnknownKey(_))
    ));
    assert_eq!((fake.hits(), fake.entra_hits()), ((2, 2), 3));
}

#[test]
fn issuers_follow_the_cloud_and_keys_follow_login_url() {
    use crate::config::Cloud;
    let upper = TENANT.to_ascii_uppercase();
    let public = EntraTenant::new(Cloud::Public, "http://127.0.0.1:9/", &upper);
    assert_eq!(public.tenant_id, TENANT);
    assert_eq!(public.issuers, [v1_issuer(TENANT), v2_issuer(TENANT)]);
    assert_eq!(
        public.keys_url,
        format!("http://127.0.0.1:9/{TENANT}/discovery/v2.0/keys")
    );
    let gcc = EntraTenant::new(Cloud::Gcc, "https://login.microsoftonline.com", TENANT);
    assert_eq!(gcc.issuers, public.issuers);
    assert_eq!(
        gcc.keys_url,
        format!("https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys")
    );
    for cloud in [Cloud::Gcch, Cloud::Dod] {
        let us = EntraTenant::new(cloud, "https://login.microsoftonline.us", TENANT);
        assert_eq!(
            us.issuers,
            [
                v1_issuer(TENANT),
                format!("https://login.microsoftonline.us/{TENANT}/"),
                format!("https://login.microsoftonline.us/{TENANT}/v2.0"),
            ]
        );
        assert!(!us.issues(&v2_issuer(TENANT)));
    }
}
