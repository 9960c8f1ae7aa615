//! The transaction builder: the one way a change is written (AUD-1, AUD-3, TEN-2).
//!
//! ```text
//! app.store.transaction(scope, audit)      // audit = who and from where
//!     .replace(&stored, &next, Action::DocumentUpdated)
//!     .because(reason)
//!     .commit().await?
//! ```
//!
//! Each record written carries its own audit event, whose `before` and `after` are the record as
//! read ([`Stored`], which only the store can make) and as written: a handler cannot record
//! something other than what it wrote. At commit, before anything is sent, every event is sealed
//! with the chain's own canonicalisation (long values become blobs, the entry must hash and fit),
//! every key is checked to lie in the scope's partitions, and the item and transaction byte
//! budgets of DynamoDB are checked; the records, their outbox items and their blobs then commit
//! in one `TransactWriteItems`, or nothing does.

use super::{keys, size, to_item, Item, Record, Store, StoreError, RECORD_KIND};
use crate::tenant::TenantScope;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use quire_core::audit::{Action, Actor, AuditEvent, Origin, Target};
use serde::Serialize;
use std::borrow::Cow;

/// Who makes a change and from where: the actor and origin every event of a transaction records,
/// and, for a change made through a route, the actions that route declares (nothing else can
/// be recorded with it).
#[derive(Debug, Clone)]
pub struct AuditContext {
    pub actor: Actor,
    pub origin: Origin,
    declared: Option<&'static [Action]>,
    /// What a change made while impersonating is conditioned on (RBAC-5).
    guard: Option<crate::tenant::ActingGuard>,
    /// Only events may be recorded (a read that records access): a transaction that writes a
    /// record is refused at commit.
    events_only: bool,
}

impl AuditContext {
    /// Any action may be recorded: for changes the store makes itself (provisioning, verdicts).
    pub(crate) fn new(actor: Actor, origin: Origin) -> Self {
        AuditContext {
            actor,
            origin,
            declared: None,
            guard: None,
            events_only: false,
        }
    }

    /// A change made through a route: only the actions the route declares may be recorded.
    pub fn for_route(actor: Actor, origin: Origin, actions: &'static [Action]) -> Self {
        AuditContext {
            actor,
            origin,
            declared: Some(actions),
            guard: None,
            events_only: false,
        }
    }

    /// A change `caller` makes through a route: recorded as [`Caller::actor`], only the actions
    /// the route declares. Made while an administrator impersonates `caller` (RBAC-5), the
    /// change commits only if the impersonation still acts as read (not ended, not run out) and
    /// the administrator's role and status are still as judged: a request in flight when it
    /// ends writes nothing.
    ///
    /// [`Caller::actor`]: crate::tenant::Caller::actor
    pub fn for_caller(caller: &crate::tenant::Caller, origin: Origin, actions: &'static [Action]) -> Self {
        AuditContext {
            actor: caller.actor(),
            origin,
            declared: Some(actions),
            guard: caller.acting_guard(),
            events_only: false,
        }
    }

    /// The same context for a route that reads and records that it did (a download, an
    /// export): its transactions may record events ([`Transaction::event`]) and nothing else.
    pub fn events_only(mut self) -> Self {
        self.events_only = true;
        self
    }

    /// Whether `action` may be recorded with this context.
    fn allows(&self, action: Action) -> bool {
        self.declared.is_none_or(|declared| declared.contains(&action))
    }
}

/// A record as it was read from the store. Only the store makes these, so the `before` of an
/// audited replacement is always what was stored (at the version the write is conditioned on).
#[derive(Debug, Clone)]
pub struct Stored<R> {
    record: R,
}

impl<R> Stored<R> {
    pub(crate) fn new(record: R) -> Self {
        Stored { record }
    }

    pub fn record(&self) -> &R {
        &self.record
    }

    pub fn into_record(self) -> R {
        self.record
    }
}

impl<R> std::ops::Deref for Stored<R> {
    type Target = R;
    fn deref(&self) -> &R {
        &self.record
    }
}

/// What a failed condition of one write means.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OnCondition {
    AlreadyExists,
    Changed,
}

impl OnCondition {
    fn error(self) -> StoreError {
        match self {
            OnCondition::AlreadyExists => StoreError::AlreadyExists,
            OnCondition::Changed => StoreError::Conflict,
        }
    }
}

pub(crate) struct Write {
    key: keys::Key,
    item: Item,
    /// Only checks `condition` on the stored item (`ConditionCheck`): writes nothing.
    check_only: bool,
    condition: Option<Cow<'static, str>>,
    names: Vec<(&'static str, &'static str)>,
    values: Vec<(&'static str, AttributeValue)>,
    on_condition: OnCondition,
}

impl Write {
    /// A `ConditionCheck` of `condition` on the item at `key`.
    pub(crate) fn check(
        key: keys::Key,
        condition: &'static str,
        names: Vec<(&'static str, &'static str)>,
        values: Vec<(&'static str, AttributeValue)>,
    ) -> Self {
        Write {
            item: key.to_map(),
            key,
            check_only: true,
            condition: Some(Cow::Borrowed(condition)),
            names,
            values,
            on_condition: OnCondition::Changed,
        }
    }

    /// A put whatever the item holds now.
    fn unconditional(key: keys::Key, item: Item) -> Self {
        Write {
            key,
            item,
            check_only: false,
            condition: None,
            names: Vec::new(),
            values: Vec::new(),
            on_condition: OnCondition::Changed,
        }
    }
}

/// A change under construction. Errors found while building are kept and returned by
/// [`Transaction::commit`], so a chain of calls reads as the change it describes.
#[must_use = "a transaction does nothing until it is committed"]
pub struct Transaction<'s> {
    store: &'s Store,
    scope: TenantScope,
    audit: AuditContext,
    writes: Vec<Write>,
    events: Vec<AuditEvent>,
    error: Option<StoreError>,
    /// Whether every event is also recorded in the platform's trail ([`Transaction::also_in_platform_trail`]).
    platform_copy: bool,
}

impl Store {
    /// Starts a change of the scope's tenant data, recorded as made by `audit`.
    pub fn transaction(&self, scope: &TenantScope, audit: AuditContext) -> Transaction<'_> {
        Transaction {
            store: self,
            scope: scope.clone(),
            audit,
            writes: Vec::new(),
            events: Vec::new(),
            error: None,
            platform_copy: false,
        }
    }
}

fn snapshot<T: Serialize>(value: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl Transaction<'_> {
    /// The tenant this transaction changes.
    pub(crate) fn scope(&self) -> &TenantScope {
        &self.scope
    }

    /// Records every event of the change in the platform's trail too (RBAC-6: a platform
    /// operator's action), with the same content, in the same transaction: both trails hold it,
    /// or neither does.
    pub(crate) fn also_in_platform_trail(mut self) -> Self {
        self.platform_copy = true;
        self
    }

    /// Makes the transaction fail with `error` at commit (the first error is kept).
    pub(crate) fn fail(self, error: StoreError) -> Self {
        self.attempt(|_| Err(error))
    }

    fn attempt(mut self, step: impl FnOnce(&mut Self) -> Result<(), StoreError>) -> Self {
        if self.error.is_none() {
            if let Err(error) = step(&mut self) {
                self.error = Some(error);
            }
        }
        self
    }

    /// Writes a new record (refused with [`StoreError::AlreadyExists`] if its id is taken) and
    /// records `action` with the record as `after`.
    pub fn create<R: Record>(self, record: &R, action: Action) -> Self {
        let key = keys::record(&self.scope, R::COLLECTION, &record.id());
        let target = Target::new(R::COLLECTION.target_type(), &record.target_id());
        let kind = R::COLLECTION.kind();
        self.insert(key, record, Some((action, target)))
            .with_kind(kind)
            .with_indexes(record)
    }

    /// Adds the index attributes of `record` to the last write ([`Record::listed_by`]).
    fn with_indexes<R: Record>(self, record: &R) -> Self {
        self.attempt(|tx| {
            let id = record.id();
            let mut attributes = Vec::new();
            for (index, value) in record.listed_by() {
                if value.contains('#') || value.is_empty() {
                    return Err(StoreError::Corrupt(format!("an index value must be plain: {value:?}")));
                }
                attributes.extend(index.attributes(&tx.scope, &value, &id));
            }
            if let Some(write) = tx.writes.last_mut() {
                for (name, value) in attributes {
                    write.item.insert(name.into(), AttributeValue::S(value));
                }
            }
            Ok(())
        })
    }

    /// Tags the last write with its record kind.
    fn with_kind(self, kind: &'static str) -> Self {
        self.attempt(|tx| {
            if let Some(write) = tx.writes.last_mut() {
                write.item.insert(RECORD_KIND.into(), AttributeValue::S(kind.into()));
            }
            Ok(())
        })
    }

    /// Replaces `current` by `next` if the stored record is still at `current`'s version
    /// (otherwise [`StoreError::Conflict`]), and records `action` with both.
    pub fn replace<R: Record>(self, current: &Stored<R>, next: &R, action: Action) -> Self {
        self.replace_as_read(current, next).attempt(|tx| {
            tx.emit(
                action,
                Target::new(R::COLLECTION.target_type(), &next.target_id()),
                Some(snapshot(current.record())?),
                Some(snapshot(next)?),
            )
        })
    }

    /// Replaces `current` by `next` if the stored record is still at `current`'s version
    /// (otherwise [`StoreError::Conflict`]), with no event of its own: for a record that sums up
    /// records this change writes and records (a document's title and status, taken from the
    /// version the change records). A change made of such writes alone records nothing and is
    /// refused at commit.
    pub fn replace_derived<R: Record>(self, current: &Stored<R>, next: &R) -> Self {
        self.replace_as_read(current, next)
    }

    fn replace_as_read<R: Record>(self, current: &Stored<R>, next: &R) -> Self {
        self.attempt(|tx| {
            if current.id() != next.id() {
                return Err(StoreError::Corrupt("a replacement must keep the record's id".into()));
            }
            let key = keys::record(&tx.scope, R::COLLECTION, &next.id());
            let mut item = to_item(next, &key)?;
            item.insert(RECORD_KIND.into(), AttributeValue::S(R::COLLECTION.kind().into()));
            tx.writes.push(Write {
                check_only: false,
                key,
                item,
                condition: Some("attribute_exists(pk) AND #version = :expected".into()),
                names: vec![("#version", "version")],
                values: vec![(":expected", AttributeValue::N(current.version().to_string()))],
                on_condition: OnCondition::Changed,
            });
            Ok(())
        })
        .with_indexes(next)
    }

    /// Records an event that changes no record (a security event), with what it found.
    pub fn event(self, action: Action, target: Target, outcome: &impl Serialize) -> Self {
        self.attempt(|tx| {
            let outcome = snapshot(outcome)?;
            tx.emit(action, target, None, Some(outcome))
        })
    }

    /// Records `action` on an item written beside it (not a [`Record`]: the organisation's own
    /// record), with the item as read (`before`, which the write must be conditioned on) and as
    /// written (`after`).
    pub(crate) fn images<T: Serialize>(self, action: Action, target: Target, before: &T, after: &T) -> Self {
        self.attempt(|tx| {
            let (before, after) = (snapshot(before)?, snapshot(after)?);
            tx.emit(action, target, Some(before), Some(after))
        })
    }

    /// The reason for change of the last event (Part 11 §11.10(e)).
    pub fn because(self, reason: &str) -> Self {
        self.attempt(|tx| match tx.events.pop() {
            Some(event) => {
                tx.events.push(event.reason(reason));
                Ok(())
            }
            None => Err(StoreError::Corrupt("a reason needs an event".into())),
        })
    }

    /// A new item, written only if absent; with `audit`, the event that records it (`after` is
    /// the item as written). Without, for items the store keeps beside an audited one (the user
    /// directory entry of a membership).
    pub(crate) fn insert<T: Serialize>(self, key: keys::Key, value: &T, audit: Option<(Action, Target)>) -> Self {
        self.attempt(|tx| {
            let item = to_item(value, &key)?;
            tx.writes.push(Write {
                check_only: false,
                key,
                item,
                condition: Some("attribute_not_exists(pk)".into()),
                names: Vec::new(),
                values: Vec::new(),
                on_condition: OnCondition::AlreadyExists,
            });
            match audit {
                Some((action, target)) => tx.emit(action, target, None, Some(snapshot(value)?)),
                None => Ok(()),
            }
        })
    }

    /// Writes an item the store keeps beside an audited change whatever is stored: derived state
    /// of which only the latest value matters (when a password was set).
    pub(crate) fn put_beside<T: Serialize>(self, key: keys::Key, value: &T) -> Self {
        self.attempt(|tx| {
            let item = to_item(value, &key)?;
            tx.writes.push(Write::unconditional(key, item));
            Ok(())
        })
    }

    /// Writes an item the store keeps beside an audited change (no event of its own: derived
    /// state such as the last verified link) if `condition` holds on what is stored; otherwise
    /// the whole change fails with [`StoreError::Conflict`].
    pub(crate) fn put_beside_if<T: Serialize>(
        self,
        key: keys::Key,
        value: &T,
        condition: impl Into<Cow<'static, str>>,
        values: Vec<(&'static str, AttributeValue)>,
    ) -> Self {
        self.attempt(|tx| {
            let item = to_item(value, &key)?;
            tx.writes.push(Write {
                check_only: false,
                key,
                item,
                condition: Some(condition.into()),
                names: Vec::new(),
                values,
                on_condition: OnCondition::Changed,
            });
            Ok(())
        })
    }

    /// Makes the whole change depend on `condition` holding on the item at `key`, which it does
    /// not write (DynamoDB's `ConditionCheck`): another member still being an active Owner.
    /// When it does not hold, the change fails with [`StoreError::Conflict`].
    pub(crate) fn check(
        self,
        key: keys::Key,
        condition: impl Into<Cow<'static, str>>,
        values: Vec<(&'static str, AttributeValue)>,
    ) -> Self {
        self.attempt(|tx| {
            let item = key.to_map();
            tx.writes.push(Write {
                key,
                item,
                check_only: true,
                condition: Some(condition.into()),
                names: Vec::new(),
                values,
                on_condition: OnCondition::Changed,
            });
            Ok(())
        })
    }

    /// Names the attributes the last write's condition refers to by placeholder (`#version`).
    pub(crate) fn with_names(self, names: Vec<(&'static str, &'static str)>) -> Self {
        self.attempt(|tx| match tx.writes.last_mut() {
            Some(write) => {
                write.names.extend(names);
                Ok(())
            }
            None => Err(StoreError::Corrupt("attribute names need a write".into())),
        })
    }

    fn emit(
        &mut self,
        action: Action,
        target: Target,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> Result<(), StoreError> {
        if !self.audit.allows(action) {
            return Err(StoreError::Corrupt(format!(
                "{action:?} is not among the audit actions the route declares"
            )));
        }
        let mut event = AuditEvent::new(
            self.scope.org_id(),
            action,
            self.audit.actor.clone(),
            target,
            self.audit.origin.clone(),
        );
        event.before = before;
        event.after = after;
        self.events.push(event);
        Ok(())
    }

    /// Seals the events, checks scope and budgets, and commits everything in one transaction.
    /// A transient transaction conflict is retried once; then it is [`StoreError::Contended`].
    pub async fn commit(self) -> Result<(), StoreError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let Transaction {
            store,
            scope,
            mut writes,
            events,
            platform_copy,
            audit,
            ..
        } = self;
        if audit.events_only && !writes.is_empty() {
            return Err(StoreError::Corrupt(
                "a route that only records access changed a record".into(),
            ));
        }
        if let Some(guard) = audit.guard {
            for check in guard.checks()? {
                // DynamoDB refuses two operations on one item: a write of it is conditioned
                // already.
                if !writes.iter().any(|w| w.key == check.key) {
                    writes.push(check);
                }
            }
        }
        if events.is_empty() {
            return Err(StoreError::Corrupt("a change without an audit event".into()));
        }
        let org = scope.org_id();
        let mut all = writes;
        let mut events = events;
        quire_core::audit::as_one_change(&mut events);
        let platform = quire_core::ids::OrgId::platform();
        let mut copies: Vec<AuditEvent> = if platform_copy && !org.is_platform() {
            events.iter().map(|event| event.copied_to(&platform)).collect()
        } else {
            Vec::new()
        };
        quire_core::audit::as_one_change(&mut copies);
        all.extend(store.outbox_writes(org, events)?);
        // The copies are the store's own, keyed in the platform's trail, and checked below
        // with it: they are what a platform operator's action records there.
        let copied = store.outbox_writes(&platform, copies)?;
        // TEN-2, in release builds too: nothing of this transaction lies outside the scope.
        // A platform item written beside a tenant's change (the user and account directories)
        // names that tenant and no other.
        // A pending join only beside the platform's own trail.
        let names_org = |w: &Write| w.item.get("orgId").and_then(|v| v.as_s().ok()) == Some(&org.to_string());
        let in_scope = |w: &Write| {
            keys::belongs_to(&w.key, org)
                || (w.key.is_platform() && names_org(w))
                || (w.key.is_pending_join() && org.is_platform() && names_org(w))
        };
        if let Some(stray) = all.iter().find(|w| !in_scope(w)) {
            return Err(StoreError::Corrupt(format!(
                "a write outside the tenant's partitions: {}",
                stray.key.pk
            )));
        }
        if let Some(stray) = copied.iter().find(|w| !keys::belongs_to(&w.key, &platform)) {
            return Err(StoreError::Corrupt(format!(
                "a copy outside the platform's trail: {}",
                stray.key.pk
            )));
        }
        all.extend(copied);
        let mut total = 0;
        for write in &all {
            let bytes = size::item_size(&write.item);
            if bytes > size::MAX_ITEM_BYTES {
                return Err(StoreError::TooLarge(format!("an item of {bytes} bytes")));
            }
            total += bytes;
        }
        if all.len() > size::MAX_TRANSACTION_ACTIONS || total > size::MAX_TRANSACTION_BYTES {
            return Err(StoreError::TooLarge(format!("{} writes, {total} bytes", all.len())));
        }
        let on_condition: Vec<OnCondition> = all.iter().map(|w| w.on_condition).collect();
        let mut items = Vec::with_capacity(all.len());
        for write in all {
            if write.check_only {
                let mut check = ConditionCheck::builder()
                    .table_name(&store.data_table)
                    .set_key(Some(write.key.to_map()))
                    .condition_expression(write.condition.unwrap_or(Cow::Borrowed("attribute_exists(pk)")));
                for (placeholder, name) in write.names {
                    check = check.expression_attribute_names(placeholder, name);
                }
                for (name, value) in write.values {
                    check = check.expression_attribute_values(name, value);
                }
                items.push(
                    TransactWriteItem::builder()
                        .condition_check(check.build().map_err(StoreError::aws)?)
                        .build(),
                );
                continue;
            }
            let mut put = Put::builder().table_name(&store.data_table).set_item(Some(write.item));
            if let Some(condition) = write.condition {
                put = put.condition_expression(condition);
            }
            for (placeholder, name) in write.names {
                put = put.expression_attribute_names(placeholder, name);
            }
            for (name, value) in write.values {
                put = put.expression_attribute_values(name, value);
            }
            items.push(
                TransactWriteItem::builder()
                    .put(put.build().map_err(StoreError::aws)?)
                    .build(),
            );
        }
        store.send_transaction(items, &on_condition).await
    }
}

impl Store {
    /// The outbox items of `events` in `org`'s trail, sealed (long values become blobs), with
    /// the blobs they refer to.
    fn outbox_writes(&self, org: &quire_core::ids::OrgId, events: Vec<AuditEvent>) -> Result<Vec<Write>, StoreError> {
        let mut writes = Vec::new();
        let mut blobs: Vec<quire_core::audit::blob::Blob> = Vec::new();
        for mut event in events {
            for blob in event.seal()? {
                if !blobs.iter().any(|b| b.sha256 == blob.sha256) {
                    blobs.push(blob);
                }
            }
            let key = keys::outbox(org, &event.event_id);
            writes.push(Write {
                check_only: false,
                item: self.outbox_item(&key, &event)?,
                key,
                condition: Some("attribute_not_exists(pk)".into()),
                names: Vec::new(),
                values: Vec::new(),
                on_condition: OnCondition::AlreadyExists,
            });
        }
        for blob in blobs {
            // Content-addressed: a blob already stored has these very bytes, so writing it again
            // changes nothing; it carries no condition.
            let key = keys::blob(org, &blob.sha256);
            let mut item = key.to_map();
            item.insert("content".into(), AttributeValue::S(blob.content));
            writes.push(Write::unconditional(key, item));
        }
        Ok(writes)
    }

    /// Sends a transaction; a failed condition becomes the error its write declared, a transient
    /// conflict with another transaction is retried once and then reported as
    /// [`StoreError::Contended`] (not a changed record: nothing says the condition failed).
    pub(crate) async fn send_transaction(
        &self,
        items: Vec<TransactWriteItem>,
        on_condition: &[OnCondition],
    ) -> Result<(), StoreError> {
        for attempt in 0..2 {
            let error = match self
                .ddb
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(()),
                Err(error) => error.into_service_error(),
            };
            if let TransactWriteItemsError::TransactionCanceledException(cancelled) = &error {
                let reasons = cancelled.cancellation_reasons();
                if let Some(index) = reasons.iter().position(|r| r.code() == Some("ConditionalCheckFailed")) {
                    return Err(on_condition.get(index).copied().unwrap_or(OnCondition::Changed).error());
                }
                if reasons.iter().any(|r| r.code() == Some("TransactionConflict")) {
                    if attempt == 0 {
                        continue;
                    }
                    return Err(StoreError::Contended);
                }
            }
            return Err(StoreError::aws(error));
        }
        Err(StoreError::Contended)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreConfig;
    use quire_core::ids::{OrgId, UserId};

    /// A store whose endpoint refuses every connection: these checks must decide before any call.
    fn offline_store() -> Store {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        let config = StoreConfig {
            data_table: "data".into(),
            audit_table: "audit".into(),
            kms_key_id: "key".into(),
        };
        Store::new(&sdk, &config)
    }

    fn audit() -> AuditContext {
        AuditContext::new(Actor::system("test"), Origin::new(None, None, "corr-0001"))
    }

    /// In release builds too, a transaction of one tenant cannot write another tenant's key.
    ///
    /// Proves: TEN-2
    #[tokio::test]
    async fn a_write_outside_the_scope_is_refused_before_anything_is_sent() {
        let store = offline_store();
        let scope = TenantScope::new(OrgId::parse("acme").unwrap());
        let other = OrgId::parse("globex").unwrap();
        let user = UserId::parse("u1").unwrap();
        let outcome = store
            .transaction(&scope, audit())
            .insert(
                keys::member(&other, &user),
                &serde_json::json!({"role": "Owner"}),
                Some((Action::MemberAdded, Target::new("user", "u1"))),
            )
            .commit()
            .await;
        assert!(
            matches!(&outcome, Err(StoreError::Corrupt(why)) if why.contains("outside the tenant")),
            "{outcome:?}"
        );
    }

    /// A directory entry written beside a tenant's change cannot name another tenant: it would
    /// route that tenant's user (or sign-in email) to the wrong organisation.
    ///
    /// Proves: TEN-2
    #[tokio::test]
    async fn a_directory_entry_for_another_tenant_is_refused_before_anything_is_sent() {
        let store = offline_store();
        let scope = TenantScope::new(OrgId::parse("acme").unwrap());
        let user = UserId::parse("u1").unwrap();
        for org in ["globex", "platform"] {
            let outcome = store
                .transaction(&scope, audit())
                .insert(
                    keys::user(&user),
                    &serde_json::json!({"userId": "u1", "orgId": org}),
                    Some((Action::MemberAdded, Target::new("user", "u1"))),
                )
                .commit()
                .await;
            assert!(
                matches!(&outcome, Err(StoreError::Corrupt(why)) if why.contains("outside the tenant")),
                "{org}: {outcome:?}"
            );
        }
    }

    /// A pending join (`keys::pending_join`) is written only beside the platform's own trail
    /// and names the platform: a tenant's change cannot write one, whichever organisation it
    /// names.
    ///
    /// Proves: TEN-2
    #[tokio::test]
    async fn a_pending_join_is_written_beside_the_platforms_trail_only() {
        let store = offline_store();
        let subject = crate::attempts::Subject::account("someone@example.test");
        for (scope, named) in [("acme", "acme"), ("acme", "platform"), ("platform", "acme")] {
            let outcome = store
                .transaction(&TenantScope::new(OrgId::parse(scope).unwrap()), audit())
                .put_beside(keys::pending_join(&subject), &serde_json::json!({"orgId": named}))
                .event(Action::MemberAdded, Target::new("account", "x"), &serde_json::json!({}))
                .commit()
                .await;
            assert!(
                matches!(&outcome, Err(StoreError::Corrupt(why)) if why.contains("outside the tenant")),
                "{scope} naming {named}: {outcome:?}"
            );
        }
    }

    /// A route that only records access (a download) records events and changes nothing: a
    /// record written with its context is refused before anything is sent.
    ///
    /// Proves: FILE-3
    #[tokio::test]
    async fn a_context_for_access_records_events_and_changes_nothing() {
        let store = offline_store();
        let org = OrgId::parse("acme").unwrap();
        let scope = TenantScope::new(org.clone());
        let user = UserId::parse("u1").unwrap();
        let access = || {
            AuditContext::for_route(
                Actor::system("test"),
                Origin::new(None, None, "corr-0001"),
                &[Action::MemberAdded],
            )
            .events_only()
        };
        let outcome = store
            .transaction(&scope, access())
            .insert(
                keys::member(&org, &user),
                &serde_json::json!({"role": "Owner"}),
                Some((Action::MemberAdded, Target::new("user", "u1"))),
            )
            .commit()
            .await;
        assert!(
            matches!(&outcome, Err(StoreError::Corrupt(why)) if why.contains("only records access")),
            "{outcome:?}"
        );
        // An event alone passes this check (and fails only on reaching the unreachable store).
        let outcome = store
            .transaction(&scope, access())
            .event(Action::MemberAdded, Target::new("user", "u1"), &serde_json::json!({}))
            .commit()
            .await;
        assert!(!matches!(&outcome, Err(StoreError::Corrupt(_))), "{outcome:?}");
    }

    /// More writes than one transaction holds are refused before anything is sent.
    #[tokio::test]
    async fn a_transaction_over_the_action_limit_is_refused_before_anything_is_sent() {
        let store = offline_store();
        let org = OrgId::parse("acme").unwrap();
        let scope = TenantScope::new(org.clone());
        let mut tx = store.transaction(&scope, audit());
        for n in 0..size::MAX_TRANSACTION_ACTIONS {
            let user = UserId::parse(&format!("u{n}")).unwrap();
            tx = tx.insert(
                keys::member(&org, &user),
                &serde_json::json!({"n": n}),
                Some((Action::MemberAdded, Target::new("user", user.as_str()))),
            );
        }
        let outcome = tx.commit().await;
        assert!(matches!(outcome, Err(StoreError::TooLarge(_))), "{outcome:?}");
    }

    /// A change made through a route records only the actions the route declares.
    ///
    /// Proves: AUD-3
    #[tokio::test]
    async fn an_action_the_route_does_not_declare_is_refused_before_anything_is_sent() {
        let store = offline_store();
        let scope = TenantScope::new(OrgId::parse("acme").unwrap());
        let limited = AuditContext::for_route(
            Actor::system("test"),
            Origin::new(None, None, "c"),
            &[Action::DocumentCreated],
        );
        let outcome = store
            .transaction(&scope, limited)
            .event(Action::AuditVerified, Target::new("audit-chain", "acme"), &"outcome")
            .commit()
            .await;
        assert!(
            matches!(&outcome, Err(StoreError::Corrupt(why)) if why.contains("not among the audit actions")),
            "{outcome:?}"
        );
    }
}
