//! `pat_actix::views::Fields` over arbitrary request bodies: `parse`, then every typed
//! getter on the fields the API reads, on every field the body has and on one it lacks.
//!
//! Checked: nothing panics; `parse` accepts exactly the JSON objects (else 400
//! `invalid_json`); each getter returns exactly what the JSON holds when it is of the
//! right type and otherwise a 422 with the code it was given (`invalid_expiry` for
//! `days`), never anything else. Every body type's `read` (and `try_into_domain`)
//! refuses only with 400 or 422.
#![no_main]

use actix_web::http::StatusCode;
use libfuzzer_sys::fuzz_target;
use pat_actix::ApiError;
use pat_actix::views::{
    CreateTokenBody, Fields, LeakReportBody, LiftReuseBody, LoginBody, NewUserBody,
    RegenerateBody, RotateBody, ScopesBody, SettingsView, UpdateTokenBody, UpdateUserBody,
};
use pat_core::policy::Settings;
use serde_json::Value;

/// The fields the API's handlers read.
const API_FIELDS: [&str; 13] = [
    "email",
    "password",
    "name",
    "description",
    "expires_in_days",
    "scopes",
    "pats_enabled",
    "max_lifetime_days",
    "max_active_per_user",
    "expiry_warning_days",
    "role",
    "active",
    "credentials",
];
/// Most fields of one body read per input, to keep executions fast.
const MAX_KEYS: usize = 16;
const CODE: &str = "invalid_field";

/// A body reader's refusal is the caller's: 400 or 422, never anything else.
fn refused_as_bad_input<T>(read: Result<T, ApiError>) {
    if let Err(err) = read {
        assert!(
            matches!(
                err.status(),
                StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY
            ),
            "{err}"
        );
    }
}

fuzz_target!(|body: &[u8]| {
    refused_as_bad_input(CreateTokenBody::read(body, 180).map(CreateTokenBody::into_domain));
    refused_as_bad_input(UpdateTokenBody::read(body));
    refused_as_bad_input(RegenerateBody::read(body, Settings::default()));
    refused_as_bad_input(RotateBody::read(body, Settings::default()));
    refused_as_bad_input(LiftReuseBody::read(body, 180));
    refused_as_bad_input(ScopesBody::read(body));
    refused_as_bad_input(LoginBody::read(body));
    refused_as_bad_input(NewUserBody::read(body).and_then(NewUserBody::try_into_domain));
    refused_as_bad_input(UpdateUserBody::read(body).and_then(UpdateUserBody::try_into_domain));
    refused_as_bad_input(SettingsView::read(body, Settings::default()));
    refused_as_bad_input(LeakReportBody::read(body));
    let reference = serde_json::from_slice::<Value>(body);
    let fields = match Fields::parse(body) {
        Ok(fields) => fields,
        Err(err) => {
            assert!(
                !matches!(reference, Ok(Value::Object(_))),
                "a JSON object was refused"
            );
            assert_eq!(
                (err.status(), err.code()),
                (StatusCode::BAD_REQUEST, "invalid_json")
            );
            return;
        }
    };
    let Ok(Value::Object(map)) = reference else {
        panic!("accepted a body that is not a JSON object");
    };
    let keys = map.keys().map(String::as_str).take(MAX_KEYS);
    let absent = "\u{0}absent";
    let probed = API_FIELDS.iter().copied().filter(|f| map.contains_key(*f));
    for field in keys.chain(probed).chain([absent, "expires_in_days"]) {
        check_field(&fields, field, map.get(field));
    }
});

fn check_field(fields: &Fields, field: &str, value: Option<&Value>) {
    let value = value.filter(|v| !v.is_null());

    let expected = match value {
        None => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => None,
    };
    agree(
        "optional_string",
        field,
        fields.optional_string(field, CODE),
        expected.clone(),
        CODE,
    );
    agree(
        "string",
        field,
        fields.string(field, CODE),
        expected.flatten(),
        CODE,
    );

    let expected = match value {
        None => Some(None),
        Some(Value::Bool(b)) => Some(Some(*b)),
        Some(_) => None,
    };
    agree(
        "optional_bool",
        field,
        fields.optional_bool(field, CODE),
        expected,
        CODE,
    );
    agree(
        "boolean",
        field,
        fields.boolean(field, CODE),
        expected.flatten(),
        CODE,
    );

    // Whole numbers: an integer, or a number with no fraction (JSON Schema's integer,
    // e.g. 30.0) small enough to be exact.
    let whole = match value {
        Some(Value::Number(n)) => n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f.abs() <= 1e15).then_some(f as i64)
        }),
        _ => None,
    };
    for max in [180, 366] {
        agree(
            "days",
            field,
            fields.days(field, max),
            whole,
            "invalid_expiry",
        );
    }
    let number = whole.and_then(|n| u32::try_from(n).ok());
    agree("number", field, fields.number(field, CODE), number, CODE);

    let strings = match value {
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    };
    agree("strings", field, fields.strings(field, CODE), strings, CODE);
}

/// The getter returned `expected`, or, when there is nothing to expect, a 422 `code`.
fn agree<T: PartialEq + std::fmt::Debug>(
    getter: &str,
    field: &str,
    got: Result<T, ApiError>,
    expected: Option<T>,
    code: &str,
) {
    match (got, expected) {
        (Ok(got), Some(expected)) => assert_eq!(got, expected, "{getter}({field:?})"),
        (Err(err), None) => {
            assert_eq!(
                (err.status(), err.code()),
                (StatusCode::UNPROCESSABLE_ENTITY, code)
            );
            assert!(!err.detail().is_empty());
        }
        (got, expected) => panic!("{getter}({field:?}) gave {got:?}, expected {expected:?}"),
    }
}
