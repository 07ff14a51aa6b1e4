use super::*;
use crate::bot::auth::jwt::b64url_decode;

#[tokio::test]
async fn valid_token_passes_and_keys_are_cached() {
    let fake = Fake::start().await;
    let auth = fake.auth();
    check(&auth, &bearer(&claims())).await.unwrap();
    check(&auth, &bearer(&claims())).await.unwrap();
    // "bearer" is case-insensitive, as HTTP auth schemes are.
    let lower = bearer(&claims()).replacen("Bearer", "bearer", 1);
    check(&auth, &lower).await.unwrap();
    assert_eq!(fake.hits(), (1, 1));
}

#[tokio::test]
async fn concurrent_validations_share_one_fetch() {
    let fake = Fake::start().await;
    let auth = Arc::new(fake.auth());
    let token = bearer(&claims());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (auth, token) = (auth.clone(), token.clone());
            tokio::spawn(async move { auth.validate(Some(&token), SERVICE_URL, "msteams").await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(fake.hits(), (1, 1));
}

#[tokio::test]
async fn header_problems() {
    let fake = Fake::start().await;
    let auth = fake.auth();
    assert!(matches!(
        auth.validate(None, SERVICE_URL, "msteams").await,
        Err(AuthError::Missing)
    ));
    assert!(matches!(check(&auth, "").await, Err(AuthError::Missing)));
    let basic = format!("Basic {}", b64url_encode(b"user:password"));
    assert!(matches!(
        check(&auth, &basic).await,
        Err(AuthError::NotBearer)
    ));
    let token = sign_with(&claims(), KID, main_key());
    assert!(matches!(
        check(&auth, &token).await,
        Err(AuthError::NotBearer)
    ));
    assert!(matches!(
        check(&auth, "Bearer").await,
        Err(AuthError::Malformed(_))
    ));
    assert!(matches!(
        check(&auth, "Bearer garbage").await,
        Err(AuthError::Malformed(_))
    ));
    assert!(matches!(
        check(&auth, "Bearer a.b.c").await,
        Err(AuthError::Malformed(_))
    ));
    assert!(matches!(
        check(&auth, "Bearer a.b.c.d.e").await,
        Err(AuthError::Malformed(_))
    ));
    // Valid header, garbage payload and signature.
    let header = token.split('.').next().unwrap();
    let junk = format!("Bearer {header}.!!!.???");
    assert!(matches!(
        check(&auth, &junk).await,
        Err(AuthError::Malformed(_))
    ));
    // A signature over a payload that is not JSON.
    let header = token.split('.').next().unwrap();
    let junk = format!("Bearer {header}.bm90IGpzb24.c2ln");
    assert!(matches!(
        check(&auth, &junk).await,
        Err(AuthError::Malformed(_))
    ));
    // None of that needed the keys: the payload is read (to pick the key
    // set) before any is fetched.
    assert_eq!(fake.hits(), (0, 0));
}

#[tokio::test]
async fn wrong_signature() {
    let fake = Fake::start().await;
    let auth = fake.auth();
    let forged = format!("Bearer {}", sign_with(&claims(), KID, other_key()));
    assert!(matches!(
        check(&auth, &forged).await,
        Err(AuthError::Signature)
    ));
    // A valid token whose payload was swapped.
    let good = sign_with(&claims(), KID, main_key());
    let mut other = claims();
    other["aud"] = json!("attacker-app");
    let evil = sign_with(&other, KID, other_key());
    let parts: Vec<&str> = good.split('.').collect();
    let evil_payload = evil.split('.').nth(1).unwrap();
    let spliced = format!("Bearer {}.{}.{}", parts[0], evil_payload, parts[2]);
    assert!(matches!(
        check(&auth, &spliced).await,
        Err(AuthError::Signature)
    ));
}

#[tokio::test]
async fn unknown_kid_refreshes_at_most_once_an_hour() {
    let fake = Fake::start().await;
    let auth = fake.auth();
    check(&auth, &bearer(&claims())).await.unwrap();
    assert_eq!(fake.hits(), (1, 1));

    let unknown = format!("Bearer {}", sign_with(&claims(), "no-such-kid", main_key()));
    match check(&auth, &unknown).await {
        Err(AuthError::UnknownKey(k)) => assert_eq!(k, "no-such-kid"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.hits(), (2, 2), "one refresh for the unknown kid");

    // The key appears now, but within the hour: no refetch.
    fake.state.jwks.lock().unwrap()["keys"]
        .as_array_mut()
        .unwrap()
        .push(jwk("rolled-key", main_key(), Some(&["msteams"])));
    let another = format!("Bearer {}", sign_with(&claims(), "rolled-key", main_key()));
    assert!(matches!(
        check(&auth, &another).await,
        Err(AuthError::UnknownKey(_))
    ));
    for i in 0..20 {
        let flood = format!(
            "Bearer {}",
            sign_with(&claims(), &format!("flood-{i}"), main_key())
        );
        assert!(matches!(
            check(&auth, &flood).await,
            Err(AuthError::UnknownKey(_))
        ));
    }
    assert_eq!(fake.hits(), (2, 2), "no refetch within the hour");
    check(&auth, &bearer(&claims())).await.unwrap();

    // An hour later (simulated), the rolled key is found with one refresh.
    auth.bot_framework
        .cache
        .lock()
        .await
        .unknown_kid_refresh_after = Some(Instant::now());
    check(&auth, &another).await.unwrap();
    assert_eq!(fake.hits(), (3, 3));
}

#[tokio::test]
async fn unknown_kid_on_first_fetch_does_not_fetch_twice() {
    let fake = Fake::start().await;
    let auth = fake.auth();
    let unknown = format!("Bearer {}", sign_with(&claims(), "no-such-kid", main_key()));
    assert!(matches!(
        check(&auth, &unknown).await,
        Err(AuthError::UnknownKey(_))
    ));
    assert_eq!(fake.hits(), (1, 1));
}

#[tokio::test]
async fn keys_are_refreshed_after_24_hours() {
    let fake = Fake::start().await;
    let auth = fake.auth();
    check(&auth, &bearer(&claims())).await.unwrap();
    {
        let mut cache = auth.bot_framework.cache.lock().await;
        let due = cache.refresh_due.unwrap();
        let age = MAX_KEY_AGE - due.duration_since(Instant::now());
        assert!(age < Duration::from_secs(60), "due 24 h after the fetch");
        cache.refresh_due = Some(Instant::now());
    }
    check(&auth, &bearer(&claims())).await.unwrap();
    assert_eq!(fake.hits(), (2, 2));
    check(&auth, &bearer(&claims())).await.unwrap();
    assert_eq!(fake.hits(), (2, 2));
}

#[tokio::test]
async fn stale_keys_stay_usable_when_the_refresh_fails() {
    let fake = Fake::start().await;
    let auth = fake.auth();
    check(&auth, &bearer(&claims())).await.unwrap();
    *fake.state.metadata_status.lock().unwrap() = StatusCode::SERVICE_UNAVAILABLE;
    auth.bot_framework.cache.lock().await.refresh_due = Some(Instant::now());
    check(&auth, &bearer(&claims())).await.unwrap();
    // The failure is not retried on every request.
    check(&auth, &bearer(&claims())).await.unwrap();
    assert_eq!(fake.hits(), (2, 1));
}

#[tokio::test]
async fn expiry_and_not_before_with_five_minutes_leeway() {
    let fake = Fake::start().await;
    let auth = fake.auth();
    let mut c = claims();
    c["nbf"] = json!(now() - 7200);
    c["exp"] = json!(now() - 400);
    assert!(matches!(
        check(&auth, &bearer(&c)).await,
        Err(AuthError::Expired)
    ));
    c["exp"] = json!(now() - 240);
    check(&auth, &bearer(&c)).await.unwrap();

    let mut c = claims();
    c["nbf"] = json!(now() + 400);
    assert!(matches!(
        check(&auth, &bearer(&c)).await,
        Err(AuthError::NotYetValid)
    ));
    c["nbf"] = json!(now() + 240);
    check(&auth, &bearer(&c)).await.unwrap();

    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert!(matches!(
        check(&auth, &bearer(&c)).await,
        Err(AuthError::Malformed(_))
    ));
}

#[tokio::test]
async fn issuer_and_audience() {
    let fake = Fake::start().await;
    let auth = fake.auth();
    let mut c = claims();
    c["iss"] = json!("https://sts.windows.net/evil/");
    match check(&auth, &bearer(&c)).await {
        Err(AuthError::Issuer(found)) => assert_eq!(found, "https://sts.windows.net/evil/"),
        other => panic!("{other:?}"),
    }
    c["iss"] = json!("https://api.botframework.com/");
    assert!(matches!(
        check(&auth, &bearer(&c)).await,
        Err(AuthError::Issuer(_))
    ));
    c.as_object_mut().unwrap().remove("iss");
    match check(&auth, &bearer(&c)).await {
        Err(AuthError::Issuer(found)) => assert_eq!(found, "<missing>"),
        other => panic!("{other:?}"),
    }

    let mut c = claims();
    c["aud"] = json!("another-bot");
    match check(&auth, &bearer(&c)).await {
        Err(AuthError::Audience(found)) => assert_eq!(found, "another-bot"),
        other => panic!("{other:?}"),
    }
    c.as_object_mut().unwrap().remove("aud");
    assert!(matches!(
        check(&auth, &bearer(&c)).await,
        Err(AuthError::Audience(_))
    ));
}

#[tokio::test]
async fn service_url_claim() {
    let fake = Fake::start().await;
    let auth = fake.auth();
    let token = bearer(&claims());
    // Trailing slash on either side is the same URL.
    check_on(
        &auth,
        &token,
        "https://smba.trafficmanager.net/emea",
        "msteams",
    )
    .await
    .unwrap();
    let mut c = claims();
    c["serviceurl"] = json!("https://smba.trafficmanager.net/emea");
    check(&auth, &bearer(&c)).await.unwrap();
    // The camel-case spelling is accepted too.
    let mut c = claims();
    let v = c.as_object_mut().unwrap().remove("serviceurl").unwrap();
    c["serviceUrl"] = v;
    check(&auth, &bearer(&c)).await.unwrap();

    match check_on(&auth, &token, "https://evil.example/emea/", "msteams").await {
        Err(AuthError::ServiceUrl { claim, activity }) => {
            assert_eq!(claim, SERVICE_URL);
            assert_eq!(activity, "https://evil.example/emea/");
        }
        other => panic!("{other:?}"),
    }
    // Only one slash is forgiven.
    let r = check_on(
        &auth,
        &token,
        "https://smba.trafficmanager.net/emea//",
        "msteams",
    )
    .await;
    assert!(matches!(r, Err(AuthError::ServiceUrl { .. })));
    let mut c = claims();
    c.as_object_mut().unwrap().remove("serviceurl");
    match check(&auth, &bearer(&c)).await {
        Err(AuthError::ServiceUrl { claim, .. }) => assert_eq!(claim, "<missing>"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn endorsements() {
    let fake = Fake::start().await;
    let auth = fake.auth();
    let token = bearer(&claims());
    check_on(&auth, &token, SERVICE_URL, "msteams")
        .await
        .unwrap();
    match check_on(&auth, &token, SERVICE_URL, "slack").await {
        Err(AuthError::NotEndorsed { channel }) => assert_eq!(channel, "slack"),
        other => panic!("{other:?}"),
    }
    let webchat = format!(
        "Bearer {}",
        sign_with(&claims(), "webchat-only", main_key())
    );
    assert!(matches!(
        check(&auth, &webchat).await,
        Err(AuthError::NotEndorsed { .. })
    ));
    check_on(&auth, &webchat, SERVICE_URL, "webchat")
        .await
        .unwrap();
    // A key without endorsements is not restricted.
    let plain = format!("Bearer {}", sign_with(&claims(), "plain-key", main_key()));
    check(&auth, &plain).await.unwrap();
}

#[tokio::test]
async fn only_rs256_is_accepted() {
    let fake = Fake::start().await;
    let auth = fake.auth();
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some(KID.into());
    // HMAC keyed with the public modulus: the classic key-confusion attack.
    let hs = jsonwebtoken::encode(
        &h,
        &claims(),
        &EncodingKey::from_secret(main_key().n.as_bytes()),
    )
    .unwrap();
    match check(&auth, &format!("Bearer {hs}")).await {
        Err(AuthError::Algorithm(found)) => assert_eq!(found, "HS256"),
        other => panic!("{other:?}"),
    }
    let header = b64url_encode(format!(r#"{{"alg":"none","kid":"{KID}","typ":"JWT"}}"#).as_bytes());
    let payload = b64url_encode(claims().to_string().as_bytes());
    match check(&auth, &format!("Bearer {header}.{payload}.")).await {
        Err(AuthError::Algorithm(found)) => assert_eq!(found, "none"),
        other => panic!("{other:?}"),
    }
    let mut h = Header::new(Algorithm::PS256);
    h.kid = Some(KID.into());
    let ps =
        jsonwebtoken::encode(&h, &claims(), &EncodingKey::from_rsa_der(&main_key().der)).unwrap();
    assert!(matches!(
        check(&auth, &format!("Bearer {ps}")).await,
        Err(AuthError::Algorithm(_))
    ));
    let header = b64url_encode(format!(r#"{{"kid":"{KID}"}}"#).as_bytes());
    assert!(matches!(
        check(&auth, &format!("Bearer {header}.{payload}.")).await,
        Err(AuthError::Algorithm(_))
    ));
    // No key fetch was needed to refuse any of them.
    assert_eq!(fake.hits(), (0, 0));
}

#[tokio::test]
async fn insecure_urls_are_refused() {
    let auth = BotAuth::new(
        client(),
        "http://login.botframework.com/v1/.well-known/openidconfiguration".into(),
        APP_ID.into(),
    );
    match check(&auth, &bearer(&claims())).await {
        Err(AuthError::Keys { detail, .. }) => assert!(detail.contains("https"), "{detail}"),
        other => panic!("{other:?}"),
    }

    let fake = Fake::start().await;
    *fake.state.jwks_uri.lock().unwrap() =
        Some("http://login.botframework.com/v1/.well-known/keys".into());
    let auth = fake.auth();
    assert!(matches!(
        check(&auth, &bearer(&claims())).await,
        Err(AuthError::Keys { .. })
    ));
    assert_eq!(fake.hits(), (1, 0));
}

#[tokio::test]
async fn metadata_failure_is_a_keys_error_and_is_not_hammered() {
    let fake = Fake::start().await;
    *fake.state.metadata_status.lock().unwrap() = StatusCode::INTERNAL_SERVER_ERROR;
    let auth = fake.auth();
    match check(&auth, &bearer(&claims())).await {
        Err(AuthError::Keys { detail, .. }) => assert!(detail.contains("500"), "{detail}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        check(&auth, &bearer(&claims())).await,
        Err(AuthError::Keys { .. })
    ));
    assert_eq!(fake.hits(), (1, 0));
    // Once the retry delay is over, it recovers.
    *fake.state.metadata_status.lock().unwrap() = StatusCode::OK;
    auth.bot_framework.cache.lock().await.retry_after = Some(Instant::now());
    check(&auth, &bearer(&claims())).await.unwrap();
    assert_eq!(fake.hits(), (2, 1));
}

#[test]
fn jwks_parsing_skips_unusable_keys() {
    let jwks = json!({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "ec", "x": "AA", "y": "AA"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": main_key().n, "e": "AQAB"},
        {"kty": "RSA", "n": main_key().n, "e": "AQAB"},
        {"kty": "RSA", "kid": "broken"},
        jwk("good", main_key(), Some(&["msteams"])),
    ]});
    let keys = parse_jwks(&jwks).unwrap();
    assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["good"]);
    assert_eq!(
        keys["good"].endorsements.as_deref(),
        Some(&["msteams".to_string()][..])
    );
    assert!(parse_jwks(&json!({"keys": []})).is_err());
    assert!(parse_jwks(&json!({"nokeys": 1})).is_err());
}

#[test]
fn base64url() {
    for len in 0..10 {
        let data: Vec<u8> = (0..len).map(|i| (i * 37 + 250) as u8).collect();
        assert_eq!(b64url_decode(&b64url_encode(&data)).unwrap(), data);
    }
    assert_eq!(
        b64url_decode("eyJhbGciOiJSUzI1NiJ9").unwrap(),
        br#"{"alg":"RS256"}"#
    );
    assert!(b64url_decode("a").is_none());
    assert!(b64url_decode("ab+/").is_none());
    assert!(b64url_decode("ab==").is_none());
}

#[test]
fn error_messages_are_short_and_say_what_failed() {
    let long = "x".repeat(10_000);
    let e = AuthError::Issuer(excerpt(&long));
    assert!(e.to_string().len() < 200);
    assert_eq!(
        AuthError::UnknownKey("k1".into()).to_string(),
        "token signed with unknown key id \"k1\""
    );
}
