//! Table rows of the apps service. Rows never leave this crate's storage layer as responses.

pub mod resource {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "resources")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub name: String,
        pub plugin_id: String,
        pub plugin_version: String,
        /// The config without its secret fields.
        pub config: Json,
        /// Dotted paths of the secret fields that have a value.
        pub secrets_set: Json,
        /// The secret values as one AES-256-GCM ciphertext, when any are set.
        pub secrets_ciphertext: Option<String>,
        /// Id of the key that sealed `secrets_ciphertext`.
        pub key_id: Option<String>,
        pub created_by: Option<Uuid>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod app {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "apps")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub name: String,
        /// The current draft document.
        pub document: Json,
        /// Draft version, raised by one on every save.
        pub version: i64,
        pub access: Json,
        #[sea_orm(unique)]
        pub public_id: Option<Uuid>,
        pub latest_release: Option<i32>,
        pub created_by: Option<Uuid>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod app_version {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "app_versions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub app_id: Uuid,
        pub version: i64,
        pub name: String,
        pub document: Json,
        pub created_by: Option<Uuid>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod action {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "actions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub app_id: Uuid,
        pub name: String,
        pub resource_id: Uuid,
        pub operation: String,
        pub input: Json,
        pub transformer: Option<String>,
        pub params_schema: Option<Json>,
        pub timeout_ms: i64,
        pub cache_ttl_seconds: i64,
        pub requires_confirmation: bool,
        pub created_by: Option<Uuid>,
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod release {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "releases")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub app_id: Uuid,
        pub number: i32,
        pub name: String,
        pub document: Json,
        /// The app's actions as they were, a JSON array of frozen actions.
        pub actions: Json,
        /// Draft version the release froze.
        pub source_version: i64,
        /// Release this one restored, when it was made by a rollback.
        pub rolled_back_from: Option<i32>,
        pub created_by: Option<Uuid>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod audit_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub workspace_id: Uuid,
        pub actor_user_id: Option<Uuid>,
        pub actor_api_key_id: Option<Uuid>,
        /// Kind of change, such as `resource.create`.
        pub action: String,
        pub target_type: String,
        pub target_id: Uuid,
        /// Facts about the change; never secret values.
        pub details: Json,
        pub client_address: Option<String>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
