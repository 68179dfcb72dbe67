use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::entities::user;

/// Inserts a user; a taken email surfaces as a unique violation.
pub async fn insert(
    db: &impl ConnectionTrait,
    email: &str,
    password_hash: &str,
    display_name: &str,
) -> Result<user::Model, sea_orm::DbErr> {
    user::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.to_string()),
        password_hash: Set(password_hash.to_string()),
        display_name: Set(display_name.to_string()),
        created_at: Set(Utc::now()),
    }
    .insert(db)
    .await
}

pub async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<user::Model>, sea_orm::DbErr> {
    user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .one(db)
        .await
}

pub async fn find(
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<user::Model>, sea_orm::DbErr> {
    user::Entity::find_by_id(id).one(db).await
}

pub async fn update_password_hash(
    db: &impl ConnectionTrait,
    id: Uuid,
    password_hash: &str,
) -> Result<(), sea_orm::DbErr> {
    let row = user::ActiveModel {
        id: Set(id),
        password_hash: Set(password_hash.to_string()),
        ..Default::default()
    };
    row.update(db).await.map(|_| ())
}
