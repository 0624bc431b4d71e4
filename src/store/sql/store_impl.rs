//! `sql_store!`: the part of a SQL store that is the same in both dialects.

/// Implements [`Store`](crate::store::Store) and `delete_expired` for
/// `$store`, a [`Dialect`](super::dialect::Dialect) whose pool is its `pool`
/// field. Both dialects run the statements written here as they are: sqlx
/// binds SQLite's `$N`, like PostgreSQL's, to the N-th argument.
macro_rules! sql_store {
    ($store:ty) => {
        // A block of its own, so these imports stay out of the dialect module.
        const _: () = {
            use time::OffsetDateTime;

            use $crate::store::sql::dialect::{BoundQuery, Connection, Dialect};
            use $crate::store::sql::records::RecordRow;
            use $crate::store::sql::{
                JOINED_USER_AT, account_id, millis, newest, session_millis, store_error, user_millis,
                verification_millis,
            };
            use $crate::store::{
                Credential, Session, SessionWithUser, Store, StoreError, StoreResult, User, UserPatch,
                Verification,
            };

            impl $store {
                /// Deletes the sessions and verification values that expired at or
                /// before `now`; answers how many rows went. Kernia calls it through
                /// [`Store::sweep_expired`](crate::store::Store::sweep_expired) (see
                /// `KerniaBuilder::sweep_interval`); call it yourself from a task if
                /// you prefer.
                ///
                /// # Errors
                ///
                /// A backend error when a delete fails.
                pub async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
                    let now = Self::date(now)?;
                    let sessions = sqlx::query(Self::DELETE_EXPIRED_SESSIONS)
                        .bind(&now)
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    let verifications = sqlx::query(Self::DELETE_EXPIRED_VERIFICATIONS)
                        .bind(&now)
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(sessions.rows_affected() + verifications.rows_affected())
                }

                async fn find_user_where(&self, sql: &'static str, key: &str) -> StoreResult<Option<User>> {
                    let row =
                        sqlx::query(sql).bind(key).fetch_optional(&self.pool).await.map_err(store_error)?;
                    row.map(|row| row.user_at(0)).transpose()
                }

                /// Inserts the credential account of `user_id`.
                async fn insert_credential(
                    conn: &mut Connection<Self>,
                    user_id: &str,
                    password: &str,
                    now: &<Self as Dialect>::Date,
                ) -> StoreResult<()> {
                    sqlx::query(Self::INSERT_CREDENTIAL)
                        .bind(account_id()?)
                        .bind(user_id)
                        .bind(password)
                        .bind(now)
                        .execute(conn)
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }

                async fn delete_where(&self, sql: &'static str, key: &str) -> StoreResult<()> {
                    sqlx::query(sql).bind(key).execute(&self.pool).await.map_err(store_error)?;
                    Ok(())
                }

                /// `query` with `verification` bound to `$1`…`$6` (`verification_columns!()` order).
                fn bind_verification(
                    query: BoundQuery<Self>,
                    verification: &Verification,
                ) -> StoreResult<BoundQuery<Self>> {
                    Ok(query
                        .bind(&verification.id)
                        .bind(&verification.identifier)
                        .bind(&verification.value)
                        .bind(Self::date(verification.expires_at)?)
                        .bind(Self::date(verification.created_at)?)
                        .bind(Self::date(verification.updated_at)?))
                }
            }

            impl Store for $store {
                async fn create_user(&self, user: User, password_hash: Option<String>) -> StoreResult<User> {
                    let user = user_millis(user);
                    let created_at = Self::date(user.created_at)?;
                    let mut tx = self.begin().await?;
                    sqlx::query(concat!(
                        r#"INSERT INTO "user" ("#,
                        user_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
                    ))
                    .bind(&user.id)
                    .bind(&user.name)
                    .bind(&user.email)
                    .bind(user.email_verified)
                    .bind(&user.image)
                    .bind(&created_at)
                    .bind(Self::date(user.updated_at)?)
                    .bind(&user.phone_number)
                    .bind(user.phone_number_verified)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if let Some(password) = password_hash {
                        Self::insert_credential(&mut tx, &user.id, &password, &created_at).await?;
                    }
                    tx.commit().await.map_err(store_error)?;
                    Ok(user)
                }

                async fn find_user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
                    self.find_user_where(
                        concat!("SELECT ", user_columns!(), r#" FROM "user" WHERE "id" = $1"#),
                        id,
                    )
                    .await
                }

                async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
                    self.find_user_where(
                        concat!("SELECT ", user_columns!(), r#" FROM "user" WHERE "email" = $1"#),
                        email,
                    )
                    .await
                }

                async fn find_user_by_phone(&self, phone: &str) -> StoreResult<Option<User>> {
                    self.find_user_where(
                        concat!("SELECT ", user_columns!(), r#" FROM "user" WHERE "phoneNumber" = $1"#),
                        phone,
                    )
                    .await
                }

                async fn update_user(
                    &self,
                    id: &str,
                    patch: UserPatch,
                    now: OffsetDateTime,
                ) -> StoreResult<Option<User>> {
                    let row = sqlx::query(concat!(
                        r#"UPDATE "user" SET "name" = COALESCE($2, "name"), "#,
                        r#""email" = COALESCE($3, "email"), "#,
                        r#""emailVerified" = COALESCE($4, "emailVerified"), "#,
                        r#""image" = CASE WHEN $5 THEN $6 ELSE "image" END, "#,
                        r#""phoneNumber" = CASE WHEN $7 THEN $8 ELSE "phoneNumber" END, "#,
                        r#""phoneNumberVerified" = COALESCE($9, "phoneNumberVerified"), "updatedAt" = $10 "#,
                        r#"WHERE "id" = $1 RETURNING "#,
                        user_columns!()
                    ))
                    .bind(id)
                    .bind(patch.name)
                    .bind(patch.email)
                    .bind(patch.email_verified)
                    .bind(patch.image.is_some())
                    .bind(patch.image.flatten())
                    .bind(patch.phone_number.is_some())
                    .bind(patch.phone_number.flatten())
                    .bind(patch.phone_number_verified)
                    .bind(Self::date(millis(now))?)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    row.map(|row| row.user_at(0)).transpose()
                }

                async fn find_credential(&self, user_id: &str) -> StoreResult<Option<Credential>> {
                    let password: Option<Option<String>> = sqlx::query_scalar(concat!(
                        r#"SELECT "password" FROM "account" "#,
                        r#"WHERE "userId" = $1 AND "providerId" = 'credential' AND "accountId" = $1 LIMIT 1"#
                    ))
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(password.map(|password| Credential { password }))
                }

                async fn set_password(
                    &self,
                    user_id: &str,
                    password_hash: String,
                    now: OffsetDateTime,
                ) -> StoreResult<()> {
                    let now = Self::date(millis(now))?;
                    let mut tx = self.begin().await?;
                    if !Self::lock_user(&mut tx, user_id).await? {
                        return Ok(());
                    }
                    let updated = sqlx::query(concat!(
                        r#"UPDATE "account" SET "password" = $2, "updatedAt" = $3 "#,
                        r#"WHERE "userId" = $1 AND "providerId" = 'credential' AND "accountId" = $1"#
                    ))
                    .bind(user_id)
                    .bind(&password_hash)
                    .bind(&now)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    if updated.rows_affected() == 0 {
                        Self::insert_credential(&mut tx, user_id, &password_hash, &now).await?;
                    }
                    tx.commit().await.map_err(store_error)
                }

                async fn delete_accounts(&self, user_id: &str) -> StoreResult<()> {
                    self.delete_where(r#"DELETE FROM "account" WHERE "userId" = $1"#, user_id).await
                }

                async fn create_session(&self, session: Session) -> StoreResult<()> {
                    let session = session_millis(session);
                    sqlx::query(concat!(
                        r#"INSERT INTO "session" ("#,
                        session_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                    ))
                    .bind(&session.id)
                    .bind(&session.token)
                    .bind(&session.user_id)
                    .bind(Self::date(session.expires_at)?)
                    .bind(Self::date(session.created_at)?)
                    .bind(Self::date(session.updated_at)?)
                    .bind(&session.ip_address)
                    .bind(&session.user_agent)
                    .execute(&self.pool)
                    .await
                    .map_err(store_error)?;
                    Ok(())
                }

                async fn find_session(
                    &self,
                    token: &str,
                    now: OffsetDateTime,
                ) -> StoreResult<Option<SessionWithUser>> {
                    let row = sqlx::query(Self::FIND_SESSION)
                        .bind(token)
                        .bind(Self::date(now)?)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.map(|row| {
                        Ok(SessionWithUser {
                            session: row.session_at(0)?,
                            user: row.user_at(JOINED_USER_AT)?,
                        })
                    })
                    .transpose()
                }

                async fn refresh_session(
                    &self,
                    token: &str,
                    expires_at: OffsetDateTime,
                    now: OffsetDateTime,
                ) -> StoreResult<Option<Session>> {
                    let row = sqlx::query(concat!(
                        r#"UPDATE "session" SET "expiresAt" = $2, "updatedAt" = $3 "#,
                        r#"WHERE "token" = $1 RETURNING "#,
                        session_columns!()
                    ))
                    .bind(token)
                    .bind(Self::date(millis(expires_at))?)
                    .bind(Self::date(millis(now))?)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(store_error)?;
                    row.map(|row| row.session_at(0)).transpose()
                }

                async fn delete_session(&self, token: &str) -> StoreResult<()> {
                    self.delete_where(r#"DELETE FROM "session" WHERE "token" = $1"#, token).await
                }

                async fn list_sessions(
                    &self,
                    user_id: &str,
                    now: OffsetDateTime,
                ) -> StoreResult<Vec<Session>> {
                    let rows = sqlx::query(Self::LIST_SESSIONS)
                        .bind(user_id)
                        .bind(Self::date(now)?)
                        .fetch_all(&self.pool)
                        .await
                        .map_err(store_error)?;
                    rows.iter().map(|row| row.session_at(0)).collect()
                }

                async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
                    sqlx::query(Self::DELETE_OTHER_SESSIONS)
                        .bind(user_id)
                        .bind(keep)
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }

                async fn create_verification(&self, verification: Verification) -> StoreResult<()> {
                    let verification = verification_millis(verification);
                    let insert = sqlx::query(concat!(
                        r#"INSERT INTO "verification" ("#,
                        verification_columns!(),
                        ") VALUES ($1, $2, $3, $4, $5, $6)"
                    ));
                    Self::bind_verification(insert, &verification)?
                        .execute(&self.pool)
                        .await
                        .map_err(store_error)?;
                    Ok(())
                }

                async fn find_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
                    let row = sqlx::query(Self::FIND_VERIFICATION)
                        .bind(identifier)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(store_error)?;
                    row.map(|row| row.verification_at()).transpose()
                }

                async fn take_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
                    // One statement: concurrent deletes of the same rows wait for each
                    // other, and only the first one returns them.
                    let rows = sqlx::query(concat!(
                        r#"DELETE FROM "verification" WHERE "identifier" = $1 RETURNING "#,
                        verification_columns!()
                    ))
                    .bind(identifier)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(store_error)?;
                    let rows =
                        rows.iter().map(RecordRow::verification_at).collect::<StoreResult<Vec<_>>>()?;
                    Ok(newest(rows))
                }

                async fn restore_verification(&self, verification: Verification) -> StoreResult<bool> {
                    let verification = verification_millis(verification);
                    let insert = sqlx::query(concat!(
                        r#"INSERT INTO "verification" ("#,
                        verification_columns!(),
                        ") SELECT $1, $2, $3, $4, $5, $6 ",
                        r#"WHERE NOT EXISTS (SELECT 1 FROM "verification" WHERE "identifier" = $2)"#
                    ));
                    let insert = Self::bind_verification(insert, &verification)?;
                    Ok(self.insert_if_absent(&verification.identifier, insert).await? == 1)
                }

                async fn delete_verifications(&self, identifier: &str) -> StoreResult<()> {
                    self.delete_where(r#"DELETE FROM "verification" WHERE "identifier" = $1"#, identifier)
                        .await
                }

                async fn sweep_expired(&self, now: OffsetDateTime) -> StoreResult<()> {
                    self.delete_expired(now).await.map(drop)
                }
            }
        };
    };
}
