//! The one claim rule (`heldar::db::claim`) that camera ownership, AI leases and export jobs
//! share: of concurrent claimers exactly one wins, a holder renews, a lapsed claim is taken
//! over, and a claim on a row whose foreign key vanished is `Gone`.

use chrono::{Duration, Utc};
use entity::camera_owner;
use heldar::db::{Claim, claim};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, Set};
use serde_json::json;

use crate::both;
use crate::helpers::{Backend, TestApp};

/// One instance's claim of camera `camera` until `until`, as ownership makes it.
async fn claim_camera(
    db: &DatabaseConnection,
    camera: &str,
    me: &str,
    until: chrono::DateTime<Utc>,
) -> Claim {
    let now = Utc::now();
    let row = camera_owner::ActiveModel {
        camera_id: Set(camera.to_owned()),
        instance_id: Set(me.to_owned()),
        expires_at: Set(until),
    };
    claim::<camera_owner::Entity>(
        db,
        Some((row, camera_owner::Column::CameraId)),
        Condition::all().add(camera_owner::Column::CameraId.eq(camera)),
        Condition::any()
            .add(camera_owner::Column::InstanceId.eq(me))
            .add(camera_owner::Column::ExpiresAt.lt(now)),
        vec![
            (camera_owner::Column::InstanceId, Expr::value(me)),
            (camera_owner::Column::ExpiresAt, Expr::value(until)),
        ],
    )
    .await
    .unwrap()
}

async fn of_concurrent_claimers_exactly_one_wins_and_a_lapsed_claim_is_taken_over(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let create = "mutation($i: CreateCameraInput!) { createCamera(input: $i) { id } }";
    let input = json!({"id": "gate", "name": "gate", "streamUrl": "rtsp://127.0.0.1:9/x",
        "enabled": false});
    app.gql(create, json!({"i": input}), app.admin()).await;
    let db = app.state.db.clone();
    let until = Utc::now() + Duration::seconds(30);
    let claimers = (0..12).map(|i| {
        let db = db.clone();
        tokio::spawn(async move { claim_camera(&db, "gate", &format!("i{i}"), until).await })
    });
    let mut outcomes = Vec::new();
    for claimer in claimers {
        outcomes.push(claimer.await.unwrap());
    }
    let won: Vec<usize> = (0..outcomes.len())
        .filter(|i| outcomes[*i] == Claim::Won)
        .collect();
    assert_eq!(
        won.len(),
        1,
        "exactly one of 12 claimers wins: {outcomes:?}"
    );
    let winner = format!("i{}", won[0]);
    let other = if won[0] == 0 { "i1" } else { "i0" };
    assert_eq!(
        claim_camera(&db, "gate", &winner, until).await,
        Claim::Won,
        "the holder renews"
    );
    assert_eq!(
        claim_camera(&db, "gate", other, until).await,
        Claim::Lost,
        "a live claim holds"
    );
    let lapsed = Utc::now() - Duration::seconds(1);
    assert_eq!(claim_camera(&db, "gate", &winner, lapsed).await, Claim::Won);
    assert_eq!(
        claim_camera(&db, "gate", other, until).await,
        Claim::Won,
        "a lapsed claim is taken over"
    );
    assert_eq!(
        claim_camera(&db, "no_such_camera", other, until).await,
        Claim::Gone,
        "a claim of a vanished row is gone, not an error"
    );
}
both!(of_concurrent_claimers_exactly_one_wins_and_a_lapsed_claim_is_taken_over);
