//! Creates the stack's stateful AWS resources on the emulator by reading `template.yaml`,
//! so the template stays the one source of truth for tables, bucket, keys and user pool.
//!
//! How it works: the template is parsed, CloudFormation short-form tags (`!Ref`, `!Sub`, …)
//! are rewritten to their long form, the supported resources are ordered by the references
//! between them, and each one's `Properties` are mapped onto SDK calls. Intrinsics are
//! resolved lazily, per property actually mapped, so a property the emulator has no use for
//! (e.g. a Lambda trigger ARN) never blocks provisioning. Everything else in the template
//! (functions, the HTTP API, IAM, log groups, …) is skipped: the in-process gateway serves it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use aws_config::retry::RetryConfig;
use aws_config::SdkConfig;
use serde_norway::{Mapping, Value};

use crate::emulator::{repo_root, LocalError, REGION};

/// The account id the emulator reports (moto's default).
pub const ACCOUNT_ID: &str = "123456789012";

/// Names of the stack's resources on the emulator.
#[derive(Debug, Clone)]
pub struct Provisioned {
    pub region: String,
    pub data_table: String,
    pub audit_table: String,
    pub data_stream_arn: String,
    pub bucket: String,
    /// Key id of `DataKey`.
    pub kms_key_id: String,
    /// ARN of `DataKey` (the envelope key of attachments and exports).
    pub kms_key_arn: String,
    pub user_pool_id: String,
    pub user_pool_client_id: String,
    /// ARN of `EdgeOriginSecret`, the secret CloudFront presents to the API.
    pub origin_secret_id: String,
    /// Every provisioned resource: logical id → physical id (what `!Ref` gives).
    pub physical_ids: BTreeMap<String, String>,
    /// Logical ids of resources not created on the emulator (unsupported type or false condition).
    pub skipped: Vec<String>,
    /// Settings the emulator refused and that were left out (logged as warnings too).
    pub degraded: Vec<String>,
    /// The audit writer's event source mapping, as the local stream driver must imitate it.
    pub audit_stream: StreamMapping,
    /// The audit verifier's event source mapping on the same stream.
    pub verifier_stream: StreamMapping,
    /// The input of the audit writer's reconciler schedule (`ReconcileSchedule`), which the local
    /// stack sends it on a timer of its own.
    pub reconcile_input: serde_json::Value,
    /// The attachment ingest function's queue mapping, as the local queue driver imitates it.
    pub ingest_queue: QueueMapping,
}

/// The settings of an SQS `AWS::Lambda::EventSourceMapping` (`AttachmentIngestQueueMapping`):
/// the queue it reads and how many messages one invocation gets.
#[derive(Debug, Clone)]
pub struct QueueMapping {
    /// The mapping's logical id.
    pub name: String,
    /// The URL of the queue `EventSourceArn` names (the queue's `!Ref`).
    pub queue_url: String,
    /// `BatchSize` (SQS's default, 10, when unset).
    pub batch_size: i32,
}

impl QueueMapping {
    fn from_template(resources: &Mapping, created: &BTreeMap<String, Created>, name: &str) -> Result<Self, LocalError> {
        let invalid = |what: &str| LocalError::Template(format!("{name}: {what}"));
        let properties = resources
            .get(name)
            .and_then(|r| r.get("Properties"))
            .ok_or_else(|| invalid("the local stack needs this resource"))?;
        let queue = properties
            .get("EventSourceArn")
            .and_then(|a| a.get("Fn::GetAtt"))
            .and_then(Value::as_sequence)
            .and_then(|a| a.first())
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("EventSourceArn must be a !GetAtt of a queue of this template"))?;
        let queue_url = created
            .get(queue)
            .map(|c| c.physical_id.clone())
            .ok_or_else(|| invalid(&format!("its queue `{queue}` was not provisioned")))?;
        Ok(QueueMapping {
            name: name.to_owned(),
            queue_url,
            batch_size: properties
                .get("BatchSize")
                .and_then(Value::as_i64)
                .and_then(|n| i32::try_from(n).ok())
                .unwrap_or(10),
        })
    }
}

fn reconcile_input(resources: &Mapping) -> Result<serde_json::Value, LocalError> {
    let text = resources
        .get("AuditWriterFunction")
        .and_then(|r| r.get("Properties"))
        .and_then(|p| p.get("Events"))
        .and_then(|e| e.get("ReconcileSchedule"))
        .and_then(|e| e.get("Properties"))
        .and_then(|p| p.get("Input"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            LocalError::Template("AuditWriterFunction needs a ReconcileSchedule event with an Input".into())
        })?;
    serde_json::from_str(text).map_err(|e| LocalError::Template(format!("ReconcileSchedule Input is not JSON: {e}")))
}

/// The settings of a stream's `AWS::Lambda::EventSourceMapping` (`AuditWriterStreamMapping`,
/// `AuditVerifierStreamMapping`) that decide which records reach the function, when a batch is
/// given up, and how long one invocation may run.
#[derive(Debug, Clone)]
pub struct StreamMapping {
    /// The mapping's logical id.
    pub name: String,
    /// The `Timeout` of the function it invokes (or of `Globals.Function`), in seconds.
    pub timeout: std::time::Duration,
    /// `FilterCriteria.Filters[].Pattern`, parsed: a record passes if it matches any.
    pub filters: Vec<serde_json::Value>,
    /// `MaximumRetryAttempts`: failed invocations of a batch before it goes to the on-failure path.
    pub maximum_retry_attempts: u32,
    /// `BatchSize`: most records per invocation.
    pub batch_size: i32,
}

impl StreamMapping {
    fn from_template(resources: &Mapping, template: &Value, name: &str) -> Result<Self, LocalError> {
        let invalid = |what: &str| LocalError::Template(format!("{name}: {what}"));
        let properties = resources
            .get(name)
            .and_then(|r| r.get("Properties"))
            .ok_or_else(|| invalid("the local stack needs this resource"))?;
        let function = properties
            .get("FunctionName")
            .and_then(|f| f.get("Ref"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("FunctionName must be a !Ref to a function of this template"))?;
        let timeout = resources
            .get(function)
            .and_then(|f| f.get("Properties"))
            .and_then(|p| p.get("Timeout"))
            .or_else(|| template.get("Globals")?.get("Function")?.get("Timeout"))
            .and_then(Value::as_u64)
            .unwrap_or(3);
        let filters = properties
            .get("FilterCriteria")
            .and_then(|f| f.get("Filters"))
            .and_then(Value::as_sequence)
            .map(|filters| {
                filters
                    .iter()
                    .map(|f| {
                        let text = f
                            .get("Pattern")
                            .and_then(Value::as_str)
                            .ok_or_else(|| invalid("a filter without Pattern"))?;
                        serde_json::from_str(text).map_err(|e| invalid(&format!("a Pattern is not JSON: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let number = |name: &str| properties.get(name).and_then(Value::as_i64);
        Ok(StreamMapping {
            name: name.to_owned(),
            timeout: std::time::Duration::from_secs(timeout),
            filters,
            maximum_retry_attempts: number("MaximumRetryAttempts")
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid("MaximumRetryAttempts must be set (unset means forever)"))?,
            batch_size: number("BatchSize").and_then(|n| i32::try_from(n).ok()).unwrap_or(100),
        })
    }
}

/// `<repo>/template.yaml`.
pub fn template_path() -> PathBuf {
    repo_root().join("template.yaml")
}

/// Reads the template and creates every resource of the supported types, in dependency
/// order, on the emulator `sdk` points at.
pub async fn provision(sdk: &SdkConfig, template_path: &Path, stack_name: &str) -> Result<Provisioned, LocalError> {
    let started = Instant::now();
    let text = std::fs::read_to_string(template_path)
        .map_err(|e| LocalError::Template(format!("cannot read {}: {e}", template_path.display())))?;
    let template: Value = serde_norway::from_str(&text)
        .map_err(|e| LocalError::Template(format!("{} is not valid YAML: {e}", template_path.display())))?;
    let template = long_form(template);
    let section = |name: &str| template.get(name).and_then(Value::as_mapping);
    let empty = Mapping::new();
    let resources = section("Resources").ok_or_else(|| LocalError::Template("no `Resources` section".into()))?;

    let mut stack = Resolver {
        stack_name: stack_name.to_owned(),
        region: sdk.region().map_or_else(|| REGION.to_owned(), |r| r.to_string()),
        parameters: section("Parameters").unwrap_or(&empty),
        conditions: section("Conditions").unwrap_or(&empty),
        mappings: section("Mappings").unwrap_or(&empty),
        resources,
        created: BTreeMap::new(),
        degraded: Mutex::new(Vec::new()),
    };
    let clients = Clients::new(sdk);

    let (order, mut skipped) = creation_order(resources)?;
    for (id, support) in order {
        let resource = &resources[id.as_str()];
        if let Some(condition) = resource.get("Condition").and_then(Value::as_str) {
            if !stack.condition(condition, 0)? {
                skipped.push(id);
                continue;
            }
        }
        let properties = Props {
            resolver: &stack,
            path: format!("{id}.Properties"),
            value: resource.get("Properties").cloned().unwrap_or(Value::Null),
        };
        let ignored: Vec<String> = properties
            .keys()
            .into_iter()
            .filter(|k| !support.properties.contains(&k.as_str()))
            .collect();
        if !ignored.is_empty() {
            tracing::debug!(resource = %id, ?ignored, "properties with no local effect");
        }
        let created = match support.kind {
            Kind::KmsKey => create_kms_key(&clients, &id, &properties).await?,
            Kind::KmsAlias => create_kms_alias(&clients, &properties).await?,
            Kind::Table => create_table(&clients, &id, &properties).await?,
            Kind::Bucket => create_bucket(&clients, &id, &properties).await?,
            Kind::UserPool => create_user_pool(&clients, &id, &properties).await?,
            Kind::UserPoolClient => create_user_pool_client(&clients, &id, &properties).await?,
            Kind::UserPoolGroup => create_user_pool_group(&clients, &id, &properties).await?,
            Kind::Secret => create_secret(&clients, &id, &properties).await?,
            Kind::Queue => create_queue(&clients, &id, &properties).await?,
            Kind::QueuePolicy => create_queue_policy(&clients, &id, &properties).await?,
        };
        tracing::debug!(resource = %id, physical_id = %created.physical_id, "provisioned");
        stack.created.insert(id, created);
    }
    if !skipped.is_empty() {
        tracing::info!(
            count = skipped.len(),
            resources = %skipped.join(", "),
            "not provisioned on the emulator (served in-process or not needed locally)"
        );
    }

    // The logical ids the rest of the local stack relies on (the template's contract).
    let created = |id: &str, ty: &str| {
        stack
            .created
            .get(id)
            .ok_or_else(|| LocalError::Template(format!("the local stack needs `{id}` ({ty})")))
    };
    let physical = |id: &str, ty: &str| created(id, ty).map(|c| c.physical_id.clone());
    let data_stream_arn = created("DataTable", "AWS::DynamoDB::Table")?
        .attributes
        .get("StreamArn")
        .cloned()
        .ok_or_else(|| LocalError::Template("DataTable needs a StreamSpecification".into()))?;
    let provisioned = Provisioned {
        region: stack.region.clone(),
        data_table: physical("DataTable", "AWS::DynamoDB::Table")?,
        audit_table: physical("AuditTable", "AWS::DynamoDB::Table")?,
        data_stream_arn,
        bucket: physical("AttachmentsBucket", "AWS::S3::Bucket")?,
        kms_key_id: physical("DataKey", "AWS::KMS::Key")?,
        kms_key_arn: created("DataKey", "AWS::KMS::Key")?
            .attributes
            .get("Arn")
            .cloned()
            .ok_or_else(|| LocalError::Template("DataKey has no ARN".into()))?,
        user_pool_id: physical("UserPool", "AWS::Cognito::UserPool")?,
        user_pool_client_id: physical("UserPoolClient", "AWS::Cognito::UserPoolClient")?,
        origin_secret_id: physical("EdgeOriginSecret", "AWS::SecretsManager::Secret")?,
        physical_ids: stack
            .created
            .iter()
            .map(|(id, c)| (id.clone(), c.physical_id.clone()))
            .collect(),
        skipped,
        degraded: stack.degraded.into_inner().unwrap_or_default(),
        audit_stream: StreamMapping::from_template(resources, &template, "AuditWriterStreamMapping")?,
        verifier_stream: StreamMapping::from_template(resources, &template, "AuditVerifierStreamMapping")?,
        reconcile_input: reconcile_input(resources)?,
        ingest_queue: QueueMapping::from_template(resources, &stack.created, "AttachmentIngestQueueMapping")?,
    };
    tracing::info!(
        stack = stack_name,
        resources = provisioned.physical_ids.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "provisioned from {}",
        template_path.display()
    );
    Ok(provisioned)
}

// ---------------------------------------------------------------------------------------
// What is supported

#[derive(Debug, Clone, Copy)]
enum Kind {
    KmsKey,
    KmsAlias,
    Table,
    Bucket,
    UserPool,
    UserPoolClient,
    UserPoolGroup,
    Secret,
    Queue,
    QueuePolicy,
}

/// A supported resource type and the properties its creator maps (anything else is
/// logged at debug level as having no local effect).
struct Support {
    type_name: &'static str,
    kind: Kind,
    properties: &'static [&'static str],
}

#[rustfmt::skip] // one row per type reads better as a table
const SUPPORTED: &[Support] = &[
    Support { type_name: "AWS::KMS::Key", kind: Kind::KmsKey, properties: &[
        "Description", "KeyUsage", "KeySpec", "KeyPolicy", "MultiRegion", "Tags",
        "EnableKeyRotation", "RotationPeriodInDays", "Enabled",
    ] },
    Support { type_name: "AWS::KMS::Alias", kind: Kind::KmsAlias, properties: &[
        "AliasName", "TargetKeyId",
    ] },
    Support { type_name: "AWS::DynamoDB::Table", kind: Kind::Table, properties: &[
        "TableName", "AttributeDefinitions", "KeySchema", "BillingMode", "ProvisionedThroughput",
        "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification",
        "SSESpecification", "DeletionProtectionEnabled", "TableClass", "Tags",
        "TimeToLiveSpecification", "PointInTimeRecoverySpecification",
    ] },
    Support { type_name: "AWS::S3::Bucket", kind: Kind::Bucket, properties: &[
        "BucketName", "ObjectLockEnabled", "VersioningConfiguration",
        "PublicAccessBlockConfiguration", "BucketEncryption", "LifecycleConfiguration",
        "CorsConfiguration", "ObjectLockConfiguration", "OwnershipControls", "Tags",
        "NotificationConfiguration",
    ] },
    Support { type_name: "AWS::Cognito::UserPool", kind: Kind::UserPool, properties: &[
        "UserPoolName", "UsernameAttributes", "AliasAttributes", "AutoVerifiedAttributes",
        "UsernameConfiguration", "Policies", "MfaConfiguration", "EnabledMfas", "Schema",
        "AdminCreateUserConfig", "AccountRecoverySetting", "DeletionProtection",
        "UserAttributeUpdateSettings", "UserPoolTags", "UserPoolTier",
    ] },
    Support { type_name: "AWS::Cognito::UserPoolClient", kind: Kind::UserPoolClient, properties: &[
        "UserPoolId", "ClientName", "ExplicitAuthFlows", "GenerateSecret",
        "PreventUserExistenceErrors", "EnableTokenRevocation", "AccessTokenValidity",
        "IdTokenValidity", "RefreshTokenValidity", "TokenValidityUnits", "AuthSessionValidity",
        "ReadAttributes", "WriteAttributes", "SupportedIdentityProviders", "CallbackURLs",
        "LogoutURLs", "DefaultRedirectURI", "AllowedOAuthFlows", "AllowedOAuthScopes",
        "AllowedOAuthFlowsUserPoolClient", "EnablePropagateAdditionalUserContextData",
    ] },
    Support { type_name: "AWS::Cognito::UserPoolGroup", kind: Kind::UserPoolGroup, properties: &[
        "GroupName", "UserPoolId", "Description", "Precedence",
    ] },
    Support { type_name: "AWS::SecretsManager::Secret", kind: Kind::Secret, properties: &[
        "Name", "Description", "KmsKeyId", "GenerateSecretString", "SecretString", "Tags",
    ] },
    Support { type_name: "AWS::SQS::Queue", kind: Kind::Queue, properties: &[
        "QueueName", "VisibilityTimeout", "MessageRetentionPeriod", "KmsMasterKeyId",
        "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled", "RedrivePolicy", "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds", "MaximumMessageSize", "Tags",
    ] },
    Support { type_name: "AWS::SQS::QueuePolicy", kind: Kind::QueuePolicy, properties: &[
        "Queues", "PolicyDocument",
    ] },
];

/// Supported resources, each with its logical id.
type CreationOrder = Vec<(String, &'static Support)>;

/// The supported resources in creation order (each after everything it references or
/// `DependsOn`, otherwise in template order), and the logical ids of all other resources.
fn creation_order(resources: &Mapping) -> Result<(CreationOrder, Vec<String>), LocalError> {
    let mut pending = Vec::new();
    let mut skipped = Vec::new();
    for (id, resource) in resources {
        let id = id
            .as_str()
            .ok_or_else(|| LocalError::Template("a resource id is not a string".into()))?;
        let ty = resource.get("Type").and_then(Value::as_str).unwrap_or("");
        match SUPPORTED.iter().find(|s| s.type_name == ty) {
            Some(support) => {
                let mut deps = BTreeSet::new();
                references(resource.get("Properties").unwrap_or(&Value::Null), &mut deps);
                match resource.get("DependsOn") {
                    Some(Value::String(s)) => {
                        deps.insert(s.clone());
                    }
                    Some(Value::Sequence(s)) => deps.extend(s.iter().filter_map(Value::as_str).map(str::to_owned)),
                    _ => {}
                }
                pending.push((id.to_owned(), support, deps));
            }
            None => skipped.push(id.to_owned()),
        }
    }
    // Only references to other supported resources constrain the order.
    let supported: BTreeSet<String> = pending.iter().map(|(id, ..)| id.clone()).collect();
    for (_, _, deps) in &mut pending {
        deps.retain(|d| supported.contains(d));
    }
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    while !pending.is_empty() {
        let Some(next) = pending
            .iter()
            .position(|(_, _, deps)| deps.iter().all(|d| done.contains(d)))
        else {
            let ids: Vec<&str> = pending.iter().map(|(id, ..)| id.as_str()).collect();
            return Err(LocalError::Template(format!(
                "circular references between {}",
                ids.join(", ")
            )));
        };
        let (id, support, _) = pending.remove(next);
        done.insert(id.clone());
        order.push((id, support));
    }
    Ok((order, skipped))
}

// ---------------------------------------------------------------------------------------
// Intrinsic functions

/// Rewrites short-form tags to CloudFormation's long form: `!Ref X` → `{Ref: X}`,
/// `!GetAtt A.B` → `{Fn::GetAtt: [A, B]}`, `!Sub s` → `{Fn::Sub: s}`, …
pub(crate) fn long_form(value: Value) -> Value {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let inner = long_form(tagged.value);
            let (key, inner) = match (tag, inner) {
                ("Ref" | "Condition", inner) => (tag.to_owned(), inner),
                ("GetAtt", Value::String(s)) => {
                    let (resource, attribute) = s.split_once('.').unwrap_or((&s, ""));
                    let pair = vec![resource.into(), attribute.into()];
                    ("Fn::GetAtt".to_owned(), Value::Sequence(pair))
                }
                (_, inner) => (format!("Fn::{tag}"), inner),
            };
            let mut mapping = Mapping::new();
            mapping.insert(key.into(), inner);
            Value::Mapping(mapping)
        }
        Value::Mapping(m) => Value::Mapping(m.into_iter().map(|(k, v)| (k, long_form(v))).collect()),
        Value::Sequence(s) => Value::Sequence(s.into_iter().map(long_form).collect()),
        other => other,
    }
}

/// `Some((function, argument))` when `m` is an intrinsic function call.
fn intrinsic(m: &Mapping) -> Option<(&str, &Value)> {
    if m.len() != 1 {
        return None;
    }
    let (key, arg) = m.iter().next()?;
    let key = key.as_str()?;
    // `Condition: Name` is a call; an IAM statement's `Condition: {…}` is data.
    let is_call = key == "Ref" || key.starts_with("Fn::") || (key == "Condition" && arg.is_string());
    is_call.then_some((key, arg))
}

/// Collects the logical ids a (long-form) value refers to.
fn references(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Mapping(m) => {
            match intrinsic(m) {
                Some(("Ref", Value::String(id))) => {
                    out.insert(id.clone());
                }
                Some(("Fn::GetAtt", Value::Sequence(s))) => {
                    out.extend(s.first().and_then(Value::as_str).map(str::to_owned));
                }
                Some(("Fn::Sub", arg)) => {
                    let text = match arg {
                        Value::Sequence(s) => s.first(),
                        other => Some(other),
                    };
                    for var in text.and_then(Value::as_str).map(sub_variables).unwrap_or_default() {
                        let id = var.split_once('.').map_or(var, |(id, _)| id);
                        out.insert(id.to_owned());
                    }
                }
                _ => {}
            }
            m.values().for_each(|v| references(v, out));
        }
        Value::Sequence(s) => s.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

/// The `${…}` variables of an `Fn::Sub` string, without pseudo parameters or `${!literals}`.
fn sub_variables(text: &str) -> Vec<&str> {
    let mut vars = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        rest = &rest[start + 2..];
        if rest.starts_with('!') {
            continue;
        }
        let Some(end) = rest.find('}') else { break };
        let var = rest[..end].trim();
        if !var.contains("::") {
            vars.push(var);
        }
        rest = &rest[end + 1..];
    }
    vars
}

/// What a created resource answers to `!Ref` and `!GetAtt`.
#[derive(Debug)]
struct Created {
    physical_id: String,
    attributes: BTreeMap<&'static str, String>,
}

impl Created {
    fn new(physical_id: impl Into<String>) -> Self {
        Created {
            physical_id: physical_id.into(),
            attributes: BTreeMap::new(),
        }
    }

    fn with(mut self, attribute: &'static str, value: impl Into<String>) -> Self {
        self.attributes.insert(attribute, value.into());
        self
    }
}

/// Intrinsics nest; templates are shallow, so this only stops runaway (cyclic) conditions.
const MAX_DEPTH: usize = 64;

/// Resolves intrinsic functions against the template and what has been created so far.
struct Resolver<'t> {
    stack_name: String,
    region: String,
    parameters: &'t Mapping,
    conditions: &'t Mapping,
    mappings: &'t Mapping,
    resources: &'t Mapping,
    created: BTreeMap<String, Created>,
    /// Settings the emulator refused (filled while creating; `Mutex` keeps the future `Send`).
    degraded: Mutex<Vec<String>>,
}

impl Resolver<'_> {
    /// `<stack>-<LogicalId>`, the name of a resource the template does not name.
    fn physical_name(&self, id: &str) -> String {
        format!("{}-{id}", self.stack_name)
    }

    /// Resolves every intrinsic in `value`; `None` is `AWS::NoValue` (the property is absent).
    fn resolve(&self, value: &Value, depth: usize) -> Result<Option<Value>, LocalError> {
        if depth > MAX_DEPTH {
            return Err(LocalError::Template(
                "intrinsic functions nest too deep (a cyclic condition?)".into(),
            ));
        }
        match value {
            Value::Mapping(m) => {
                if let Some((function, arg)) = intrinsic(m) {
                    return self.call(function, arg, depth + 1);
                }
                let mut out = Mapping::new();
                for (k, v) in m {
                    if let Some(v) = self.resolve(v, depth + 1)? {
                        out.insert(k.clone(), v);
                    }
                }
                Ok(Some(Value::Mapping(out)))
            }
            Value::Sequence(s) => {
                let mut out = Vec::with_capacity(s.len());
                for v in s {
                    out.extend(self.resolve(v, depth + 1)?);
                }
                Ok(Some(Value::Sequence(out)))
            }
            other => Ok(Some(other.clone())),
        }
    }

    fn resolve_some(&self, value: &Value, depth: usize) -> Result<Value, LocalError> {
        self.resolve(value, depth)?
            .ok_or_else(|| LocalError::Template("AWS::NoValue where a value is required".into()))
    }

    fn resolve_text(&self, value: &Value, depth: usize) -> Result<String, LocalError> {
        let v = self.resolve_some(value, depth)?;
        scalar_text(&v).ok_or_else(|| LocalError::Template(format!("expected a string, found {v:?}")))
    }

    /// The resolved elements of an intrinsic's list argument of length `N`.
    fn args<const N: usize>(&self, function: &str, arg: &Value, depth: usize) -> Result<[Value; N], LocalError> {
        let wrong = || LocalError::Template(format!("{function} takes a list of {N}, got {arg:?}"));
        let items = arg.as_sequence().filter(|s| s.len() == N).ok_or_else(wrong)?;
        let values: Vec<Value> = items
            .iter()
            .map(|v| self.resolve_some(v, depth))
            .collect::<Result<_, _>>()?;
        values.try_into().map_err(|_| wrong())
    }

    fn call(&self, function: &str, arg: &Value, depth: usize) -> Result<Option<Value>, LocalError> {
        let bad = |why: String| LocalError::Template(format!("{function}: {why}"));
        let value = match function {
            "Ref" => return self.reference(&self.resolve_text(arg, depth)?),
            "Fn::GetAtt" => {
                let [id, attribute] = self.args(function, arg, depth)?;
                let (id, attribute) = (text_of(&id)?, text_of(&attribute)?);
                self.attribute(&id, &attribute)?
            }
            "Fn::Sub" => {
                let (text, vars) = match arg {
                    Value::Sequence(s) if s.len() == 2 => (&s[0], s[1].as_mapping()),
                    other => (other, None),
                };
                let text = text.as_str().ok_or_else(|| bad("expects a string".into()))?;
                Value::String(self.substitute(text, vars, depth)?)
            }
            "Fn::Join" => {
                let [delimiter, items] = self.args(function, arg, depth)?;
                let items = items.as_sequence().ok_or_else(|| bad("expects a list".into()))?;
                let parts: Result<Vec<String>, _> = items.iter().map(text_of).collect();
                Value::String(parts?.join(&text_of(&delimiter)?))
            }
            "Fn::Select" => {
                let [index, items] = self.args(function, arg, depth)?;
                let index: usize = text_of(&index)?.parse().map_err(|_| bad("bad index".into()))?;
                items
                    .as_sequence()
                    .and_then(|s| s.get(index))
                    .cloned()
                    .ok_or_else(|| bad(format!("no element {index}")))?
            }
            "Fn::Split" => {
                let [delimiter, text] = self.args(function, arg, depth)?;
                let delimiter = text_of(&delimiter)?;
                Value::Sequence(text_of(&text)?.split(delimiter.as_str()).map(Value::from).collect())
            }
            "Fn::If" => {
                let s = arg.as_sequence().filter(|s| s.len() == 3);
                let s = s.ok_or_else(|| bad("takes [condition, then, else]".into()))?;
                let name = s[0].as_str().ok_or_else(|| bad("condition name".into()))?;
                let branch = if self.condition(name, depth)? { &s[1] } else { &s[2] };
                return self.resolve(branch, depth);
            }
            "Fn::Equals" => {
                let [a, b] = self.args(function, arg, depth)?;
                // CloudFormation compares strings ("1" equals 1); lists compare as lists.
                Value::Bool(match (scalar_text(&a), scalar_text(&b)) {
                    (Some(a), Some(b)) => a == b,
                    _ => a == b,
                })
            }
            "Fn::Not" => {
                let [a] = self.args(function, arg, depth)?;
                Value::Bool(!a.as_bool().ok_or_else(|| bad("expects a condition".into()))?)
            }
            "Fn::And" | "Fn::Or" => {
                let items = arg.as_sequence().ok_or_else(|| bad("expects a list".into()))?;
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    let v = self.resolve_some(item, depth)?;
                    values.push(v.as_bool().ok_or_else(|| bad("expects conditions".into()))?);
                }
                let all = function == "Fn::And";
                Value::Bool(if all {
                    values.iter().all(|b| *b)
                } else {
                    values.iter().any(|b| *b)
                })
            }
            "Condition" => Value::Bool(self.condition(&self.resolve_text(arg, depth)?, depth)?),
            "Fn::FindInMap" => {
                let [map, top, second] = self.args(function, arg, depth)?;
                let (map, top, second) = (text_of(&map)?, text_of(&top)?, text_of(&second)?);
                let found = self.mappings.get(map.as_str()).and_then(|m| m.get(top.as_str()));
                found
                    .and_then(|m| m.get(second.as_str()))
                    .cloned()
                    .ok_or_else(|| bad(format!("no {map}.{top}.{second}")))?
            }
            "Fn::GetAZs" => Value::Sequence(
                ["a", "b", "c"]
                    .iter()
                    .map(|z| Value::from(format!("{}{z}", self.region)))
                    .collect(),
            ),
            other => {
                return Err(LocalError::Template(format!(
                    "intrinsic {other} is not supported by the local provisioner"
                )))
            }
        };
        Ok(Some(value))
    }

    /// `!Ref name`: a pseudo parameter, a parameter's default, or a resource's physical id.
    fn reference(&self, name: &str) -> Result<Option<Value>, LocalError> {
        let value = match name {
            "AWS::NoValue" => return Ok(None),
            "AWS::Region" => self.region.clone(),
            "AWS::StackName" => self.stack_name.clone(),
            "AWS::AccountId" => ACCOUNT_ID.to_owned(),
            "AWS::Partition" => "aws".to_owned(),
            "AWS::URLSuffix" => "amazonaws.com".to_owned(),
            "AWS::StackId" => format!(
                "arn:aws:cloudformation:{}:{ACCOUNT_ID}:stack/{}/00000000-0000-0000-0000-000000000000",
                self.region, self.stack_name
            ),
            "AWS::NotificationARNs" => return Ok(Some(Value::Sequence(Vec::new()))),
            _ => {
                if let Some(parameter) = self.parameters.get(name) {
                    return self.parameter(name, parameter).map(Some);
                }
                if let Some(created) = self.created.get(name) {
                    created.physical_id.clone()
                } else if self.resources.contains_key(name) {
                    // A resource the emulator does not get: a recognisable stand-in.
                    tracing::debug!(resource = name, "reference to a resource not provisioned locally");
                    format!("quire-local-unprovisioned-{name}")
                } else {
                    return Err(LocalError::Template(format!("!Ref to unknown `{name}`")));
                }
            }
        };
        Ok(Some(Value::String(value)))
    }

    /// A parameter's `Default` (the local stack takes no parameter overrides).
    fn parameter(&self, name: &str, parameter: &Value) -> Result<Value, LocalError> {
        let default = parameter
            .get("Default")
            .ok_or_else(|| LocalError::Template(format!("parameter {name} needs a Default for the local stack")))?;
        let ty = parameter.get("Type").and_then(Value::as_str).unwrap_or("String");
        if ty == "CommaDelimitedList" || ty.starts_with("List<") {
            if let Some(text) = default.as_str() {
                return Ok(Value::Sequence(
                    text.split(',').map(|s| Value::from(s.trim())).collect(),
                ));
            }
        }
        Ok(default.clone())
    }

    /// `!GetAtt id.attribute`.
    fn attribute(&self, id: &str, attribute: &str) -> Result<Value, LocalError> {
        if let Some(created) = self.created.get(id) {
            return created
                .attributes
                .get(attribute)
                .map(|v| Value::from(v.as_str()))
                .ok_or_else(|| {
                    LocalError::Template(format!("!GetAtt {id}.{attribute}: attribute not available locally"))
                });
        }
        if self.resources.contains_key(id) {
            return Ok(Value::String(format!(
                "arn:aws:quire-local:{}:{ACCOUNT_ID}:unprovisioned/{id}/{attribute}",
                self.region
            )));
        }
        Err(LocalError::Template(format!("!GetAtt to unknown `{id}`")))
    }

    /// `!Sub`: `${Name}`, `${Name.Attribute}`, `${AWS::Pseudo}`, `${!Literal}`.
    fn substitute(&self, text: &str, vars: Option<&Mapping>, depth: usize) -> Result<String, LocalError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            rest = &rest[start + 2..];
            if let Some(literal) = rest.strip_prefix('!') {
                out.push_str("${");
                rest = literal;
                continue;
            }
            let end = rest
                .find('}')
                .ok_or_else(|| LocalError::Template(format!("unclosed ${{ in !Sub {text:?}")))?;
            let name = rest[..end].trim();
            let value = match vars.and_then(|v| v.get(name)) {
                Some(v) => self.resolve_some(v, depth)?,
                None => match name.split_once('.') {
                    Some((id, attribute)) if !name.contains("::") => self.attribute(id, attribute)?,
                    _ => self
                        .reference(name)?
                        .ok_or_else(|| LocalError::Template(format!("${{{name}}} is AWS::NoValue")))?,
                },
            };
            out.push_str(&text_of(&value)?);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn condition(&self, name: &str, depth: usize) -> Result<bool, LocalError> {
        let expression = self
            .conditions
            .get(name)
            .ok_or_else(|| LocalError::Template(format!("unknown condition `{name}`")))?;
        self.resolve_some(expression, depth + 1)?
            .as_bool()
            .ok_or_else(|| LocalError::Template(format!("condition `{name}` is not a boolean")))
    }

    /// Records a setting the emulator refused; provisioning goes on without it.
    fn degrade(&self, what: String, error: &(dyn std::error::Error + 'static)) {
        let error = LocalError::aws(what.clone(), error);
        tracing::warn!(%error, "emulator refused a setting; continuing without it");
        self.degraded.lock().expect("not poisoned").push(what);
    }
}

/// Strings, numbers and booleans as CloudFormation sees them: text.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text_of(v: &Value) -> Result<String, LocalError> {
    scalar_text(v).ok_or_else(|| LocalError::Template(format!("expected a string, found {v:?}")))
}

// ---------------------------------------------------------------------------------------
// Typed access to a resource's properties

/// A (sub-)mapping of a resource's properties; every getter resolves intrinsics first.
struct Props<'r> {
    resolver: &'r Resolver<'r>,
    /// `Logical.Properties.Key…`, for error messages.
    path: String,
    value: Value,
}

impl<'r> Props<'r> {
    fn keys(&self) -> Vec<String> {
        self.value
            .as_mapping()
            .map(|m| m.keys().filter_map(|k| k.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    }

    fn invalid(&self, key: &str, expected: &str) -> LocalError {
        LocalError::Template(format!("{}.{key} must be {expected}", self.path))
    }

    fn get(&self, key: &str) -> Result<Option<Value>, LocalError> {
        match self.value.get(key) {
            None => Ok(None),
            // Say where in the template an intrinsic failed.
            Some(raw) => self.resolver.resolve(raw, 0).map_err(|e| match e {
                LocalError::Template(m) => LocalError::Template(format!("{}.{key}: {m}", self.path)),
                other => other,
            }),
        }
    }

    fn str(&self, key: &str) -> Result<Option<String>, LocalError> {
        self.get(key)?
            .map(|v| scalar_text(&v).ok_or_else(|| self.invalid(key, "a string")))
            .transpose()
    }

    fn required(&self, key: &str) -> Result<String, LocalError> {
        self.str(key)?.ok_or_else(|| self.invalid(key, "present"))
    }

    /// Booleans may be written `true` or `"true"`.
    fn bool(&self, key: &str) -> Result<Option<bool>, LocalError> {
        match self.get(key)? {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(self.invalid(key, "a boolean")),
        }
    }

    /// Numbers may be written `5` or `"5"`.
    fn int(&self, key: &str) -> Result<Option<i64>, LocalError> {
        self.str(key)?
            .map(|s| s.parse().map_err(|_| self.invalid(key, "an integer")))
            .transpose()
    }

    fn i32(&self, key: &str) -> Result<Option<i32>, LocalError> {
        self.int(key)?
            .map(|n| i32::try_from(n).map_err(|_| self.invalid(key, "a 32-bit integer")))
            .transpose()
    }

    /// A list of strings; absent is empty.
    fn strs(&self, key: &str) -> Result<Vec<String>, LocalError> {
        match self.get(key)? {
            None => Ok(Vec::new()),
            Some(Value::Sequence(s)) => s
                .iter()
                .map(|v| scalar_text(v).ok_or_else(|| self.invalid(key, "a list of strings")))
                .collect(),
            Some(_) => Err(self.invalid(key, "a list of strings")),
        }
    }

    /// Like `strs`, but `None` when absent (so the SDK field stays unset).
    fn some_strs(&self, key: &str) -> Result<Option<Vec<String>>, LocalError> {
        self.value.get(key).is_some().then(|| self.strs(key)).transpose()
    }

    fn obj(&self, key: &str) -> Result<Option<Props<'r>>, LocalError> {
        match self.get(key)? {
            None => Ok(None),
            Some(value @ Value::Mapping(_)) => Ok(Some(self.child(key.to_owned(), value))),
            Some(_) => Err(self.invalid(key, "a mapping")),
        }
    }

    /// A list of mappings; absent is empty.
    fn list(&self, key: &str) -> Result<Vec<Props<'r>>, LocalError> {
        match self.get(key)? {
            None => Ok(Vec::new()),
            Some(Value::Sequence(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::Mapping(_) => Ok(self.child(format!("{key}[{i}]"), item)),
                    _ => Err(self.invalid(key, "a list of mappings")),
                })
                .collect(),
            Some(_) => Err(self.invalid(key, "a list")),
        }
    }

    /// A policy document: written as YAML in the template, sent as JSON.
    fn json(&self, key: &str) -> Result<Option<String>, LocalError> {
        match self.get(key)? {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => serde_json::to_string(&v)
                .map(Some)
                .map_err(|e| self.invalid(key, &format!("JSON-serialisable ({e})"))),
        }
    }

    /// `Tags: [{Key, Value}]` as pairs.
    fn tags(&self, key: &str) -> Result<Vec<(String, String)>, LocalError> {
        self.list(key)?
            .iter()
            .map(|t| Ok((t.required("Key")?, t.required("Value")?)))
            .collect()
    }

    fn child(&self, key: String, value: Value) -> Props<'r> {
        Props {
            resolver: self.resolver,
            path: format!("{}.{key}", self.path),
            value,
        }
    }
}

/// Turns SDK and builder errors into `LocalError`s that say what was being done.
trait OrLocal<T> {
    fn or_aws(self, operation: impl Display) -> Result<T, LocalError>;
    fn or_invalid(self, what: impl Display) -> Result<T, LocalError>;
}

impl<T, E: std::error::Error + 'static> OrLocal<T> for Result<T, E> {
    fn or_aws(self, operation: impl Display) -> Result<T, LocalError> {
        self.map_err(|e| LocalError::aws(operation.to_string(), &e))
    }

    fn or_invalid(self, what: impl Display) -> Result<T, LocalError> {
        self.map_err(|e| LocalError::Template(format!("{what}: {e}")))
    }
}

// ---------------------------------------------------------------------------------------
// Creating resources

struct Clients {
    dynamodb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    kms: aws_sdk_kms::Client,
    cognito: aws_sdk_cognitoidentityprovider::Client,
    secrets: aws_sdk_secretsmanager::Client,
    sqs: aws_sdk_sqs::Client,
}

impl Clients {
    /// No retries: the emulator is local and answers unimplemented calls with HTTP 500,
    /// which the SDK would otherwise retry with back-off before giving up.
    fn new(sdk: &SdkConfig) -> Self {
        let no_retry = RetryConfig::disabled;
        Clients {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(sdk)
                    .retry_config(no_retry())
                    .build(),
            ),
            // The emulator serves buckets by path, not by virtual host.
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(sdk)
                    .force_path_style(true)
                    .retry_config(no_retry())
                    .build(),
            ),
            kms: aws_sdk_kms::Client::from_conf(
                aws_sdk_kms::config::Builder::from(sdk).retry_config(no_retry()).build(),
            ),
            cognito: aws_sdk_cognitoidentityprovider::Client::from_conf(
                aws_sdk_cognitoidentityprovider::config::Builder::from(sdk)
                    .retry_config(no_retry())
                    .build(),
            ),
            secrets: aws_sdk_secretsmanager::Client::from_conf(
                aws_sdk_secretsmanager::config::Builder::from(sdk)
                    .retry_config(no_retry())
                    .build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(
                aws_sdk_sqs::config::Builder::from(sdk).retry_config(no_retry()).build(),
            ),
        }
    }
}

async fn create_kms_key(c: &Clients, id: &str, p: &Props<'_>) -> Result<Created, LocalError> {
    use aws_sdk_kms::types::{KeySpec, KeyUsageType, Tag};
    let tags = p
        .tags("Tags")?
        .into_iter()
        .map(|(k, v)| Tag::builder().tag_key(k).tag_value(v).build().or_invalid(&p.path))
        .collect::<Result<Vec<_>, _>>()?;
    let key = c
        .kms
        .create_key()
        .set_description(p.str("Description")?)
        .set_key_usage(p.str("KeyUsage")?.as_deref().map(KeyUsageType::from))
        .set_key_spec(p.str("KeySpec")?.as_deref().map(KeySpec::from))
        .set_policy(p.json("KeyPolicy")?)
        .set_multi_region(p.bool("MultiRegion")?)
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .or_aws(format_args!("kms:CreateKey {id}"))?;
    let metadata = key
        .key_metadata()
        .ok_or_else(|| LocalError::Other("CreateKey: no metadata".into()))?;
    let key_id = metadata.key_id().to_owned();
    if p.bool("EnableKeyRotation")? == Some(true) {
        c.kms
            .enable_key_rotation()
            .key_id(&key_id)
            .set_rotation_period_in_days(p.i32("RotationPeriodInDays")?)
            .send()
            .await
            .or_aws(format_args!("kms:EnableKeyRotation {id}"))?;
    }
    if p.bool("Enabled")? == Some(false) {
        c.kms
            .disable_key()
            .key_id(&key_id)
            .send()
            .await
            .or_aws(format_args!("kms:DisableKey {id}"))?;
    }
    let arn = metadata.arn().unwrap_or_default().to_owned();
    Ok(Created::new(&key_id).with("KeyId", &key_id).with("Arn", arn))
}

/// `GenerateSecretString` is CloudFormation's, not an API of Secrets Manager: the value comes
/// from `GetRandomPassword` with the same settings, then `CreateSecret`. `!Ref` is the ARN.
async fn create_secret(c: &Clients, id: &str, p: &Props<'_>) -> Result<Created, LocalError> {
    let value = match (p.str("SecretString")?, p.obj("GenerateSecretString")?) {
        (Some(value), None) => value,
        (None, Some(generate)) => {
            if generate.str("SecretStringTemplate")?.is_some() || generate.str("GenerateStringKey")?.is_some() {
                return Err(LocalError::Template(format!(
                    "{}: JSON secrets (SecretStringTemplate) are not supported locally",
                    generate.path
                )));
            }
            c.secrets
                .get_random_password()
                .set_password_length(generate.int("PasswordLength")?)
                .set_exclude_characters(generate.str("ExcludeCharacters")?)
                .set_exclude_punctuation(generate.bool("ExcludePunctuation")?)
                .set_exclude_numbers(generate.bool("ExcludeNumbers")?)
                .set_exclude_uppercase(generate.bool("ExcludeUppercase")?)
                .set_exclude_lowercase(generate.bool("ExcludeLowercase")?)
                .set_include_space(generate.bool("IncludeSpace")?)
                .set_require_each_included_type(generate.bool("RequireEachIncludedType")?)
                .send()
                .await
                .or_aws(format_args!("secretsmanager:GetRandomPassword {id}"))?
                .random_password
                .ok_or_else(|| LocalError::Other("GetRandomPassword: no password".into()))?
        }
        _ => return Err(p.invalid("SecretString", "exactly one of SecretString and GenerateSecretString")),
    };
    let secret = c
        .secrets
        .create_secret()
        .name(p.str("Name")?.unwrap_or_else(|| p.resolver.physical_name(id)))
        .set_description(p.str("Description")?)
        .set_kms_key_id(p.str("KmsKeyId")?)
        .secret_string(value)
        .send()
        .await
        .or_aws(format_args!("secretsmanager:CreateSecret {id}"))?;
    let arn = secret
        .arn
        .ok_or_else(|| LocalError::Other("CreateSecret: no ARN".into()))?;
    Ok(Created::new(arn))
}

async fn create_kms_alias(c: &Clients, p: &Props<'_>) -> Result<Created, LocalError> {
    let name = p.required("AliasName")?;
    c.kms
        .create_alias()
        .alias_name(&name)
        .target_key_id(p.required("TargetKeyId")?)
        .send()
        .await
        .or_aws(format_args!("kms:CreateAlias {name}"))?;
    Ok(Created::new(name))
}

async fn create_table(c: &Clients, id: &str, p: &Props<'_>) -> Result<Created, LocalError> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, LocalSecondaryIndex,
        PointInTimeRecoverySpecification, Projection, ProjectionType, ProvisionedThroughput, ScalarAttributeType,
        SseSpecification, SseType, StreamSpecification, StreamViewType, TableClass, Tag, TimeToLiveSpecification,
    };
    let name = p.str("TableName")?.unwrap_or_else(|| p.resolver.physical_name(id));
    let key_schema = |p: &Props<'_>| -> Result<Vec<KeySchemaElement>, LocalError> {
        p.list("KeySchema")?
            .iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(k.required("AttributeName")?)
                    .key_type(KeyType::from(k.required("KeyType")?.as_str()))
                    .build()
                    .or_invalid(&k.path)
            })
            .collect()
    };
    let throughput = |p: &Props<'_>| -> Result<Option<ProvisionedThroughput>, LocalError> {
        p.obj("ProvisionedThroughput")?
            .map(|t| {
                ProvisionedThroughput::builder()
                    .set_read_capacity_units(t.int("ReadCapacityUnits")?)
                    .set_write_capacity_units(t.int("WriteCapacityUnits")?)
                    .build()
                    .or_invalid(&t.path)
            })
            .transpose()
    };
    let projection = |p: &Props<'_>| -> Result<Option<Projection>, LocalError> {
        p.obj("Projection")?
            .map(|pr| -> Result<Projection, LocalError> {
                Ok(Projection::builder()
                    .set_projection_type(pr.str("ProjectionType")?.as_deref().map(ProjectionType::from))
                    .set_non_key_attributes(pr.some_strs("NonKeyAttributes")?)
                    .build())
            })
            .transpose()
    };

    let attributes = p
        .list("AttributeDefinitions")?
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(a.required("AttributeName")?)
                .attribute_type(ScalarAttributeType::from(a.required("AttributeType")?.as_str()))
                .build()
                .or_invalid(&a.path)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut global_indexes = Vec::new();
    for g in p.list("GlobalSecondaryIndexes")? {
        global_indexes.push(
            GlobalSecondaryIndex::builder()
                .index_name(g.required("IndexName")?)
                .set_key_schema(Some(key_schema(&g)?))
                .set_projection(projection(&g)?)
                .set_provisioned_throughput(throughput(&g)?)
                .build()
                .or_invalid(&g.path)?,
        );
    }
    let mut local_indexes = Vec::new();
    for l in p.list("LocalSecondaryIndexes")? {
        local_indexes.push(
            LocalSecondaryIndex::builder()
                .index_name(l.required("IndexName")?)
                .set_key_schema(Some(key_schema(&l)?))
                .set_projection(projection(&l)?)
                .build()
                .or_invalid(&l.path)?,
        );
    }
    let stream = match p.obj("StreamSpecification")? {
        Some(s) => Some(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(s.required("StreamViewType")?.as_str()))
                .build()
                .or_invalid(&s.path)?,
        ),
        None => None,
    };
    let sse = match p.obj("SSESpecification")? {
        Some(s) => Some(
            SseSpecification::builder()
                .set_enabled(s.bool("SSEEnabled")?)
                .set_sse_type(s.str("SSEType")?.as_deref().map(SseType::from))
                .set_kms_master_key_id(s.str("KMSMasterKeyId")?)
                .build(),
        ),
        None => None,
    };
    let tags = p
        .tags("Tags")?
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().or_invalid(&p.path))
        .collect::<Result<Vec<_>, _>>()?;
    // CloudFormation's default billing mode is PROVISIONED.
    let billing = p.str("BillingMode")?.unwrap_or_else(|| "PROVISIONED".into());

    let request = c
        .dynamodb
        .create_table()
        .table_name(&name)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(p)?))
        .billing_mode(BillingMode::from(billing.as_str()))
        .set_provisioned_throughput(throughput(p)?)
        .set_global_secondary_indexes((!global_indexes.is_empty()).then_some(global_indexes))
        .set_local_secondary_indexes((!local_indexes.is_empty()).then_some(local_indexes))
        .set_stream_specification(stream)
        .set_deletion_protection_enabled(p.bool("DeletionProtectionEnabled")?)
        .set_table_class(p.str("TableClass")?.as_deref().map(TableClass::from))
        .set_tags((!tags.is_empty()).then_some(tags));
    let created = match request.clone().set_sse_specification(sse.clone()).send().await {
        Ok(created) => created,
        // Encryption at rest is AWS's business; locally a table without it behaves the same.
        Err(e) if sse.is_some() => {
            p.resolver.degrade(format!("{id}.SSESpecification"), &e);
            request.send().await.or_aws(format_args!("dynamodb:CreateTable {id}"))?
        }
        Err(e) => return Err(e).or_aws(format_args!("dynamodb:CreateTable {id}")),
    };
    let description = created
        .table_description()
        .ok_or_else(|| LocalError::Other("CreateTable: no description".into()))?;

    if let Some(ttl) = p.obj("TimeToLiveSpecification")? {
        if ttl.bool("Enabled")? == Some(true) {
            c.dynamodb
                .update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(ttl.required("AttributeName")?)
                        .enabled(true)
                        .build()
                        .or_invalid(&ttl.path)?,
                )
                .send()
                .await
                .or_aws(format_args!("dynamodb:UpdateTimeToLive {id}"))?;
        }
    }
    if let Some(pitr) = p.obj("PointInTimeRecoverySpecification")? {
        if pitr.bool("PointInTimeRecoveryEnabled")? == Some(true) {
            let spec = PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .set_recovery_period_in_days(pitr.i32("RecoveryPeriodInDays")?)
                .build()
                .or_invalid(&pitr.path)?;
            let result = c
                .dynamodb
                .update_continuous_backups()
                .table_name(&name)
                .point_in_time_recovery_specification(spec)
                .send()
                .await;
            // Backups never matter locally: a refusal is noted, not fatal.
            if let Err(e) = result {
                p.resolver.degrade(format!("{id}.PointInTimeRecoverySpecification"), &e);
            }
        }
    }

    let mut table = Created::new(&name).with("Arn", description.table_arn().unwrap_or_default());
    if let Some(stream_arn) = description.latest_stream_arn() {
        table = table.with("StreamArn", stream_arn);
    }
    Ok(table)
}

/// S3 bucket names: lowercase letters, digits, dots and hyphens, at most 63 characters.
fn bucket_name(stack_name: &str, id: &str) -> String {
    let name: String = format!("{stack_name}-{id}")
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    name.trim_end_matches(['-', '.']).to_owned()
}

async fn create_bucket(c: &Clients, id: &str, p: &Props<'_>) -> Result<Created, LocalError> {
    use aws_sdk_s3::types::{
        AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, BucketLocationConstraint, BucketVersioningStatus,
        CorsConfiguration, CorsRule, CreateBucketConfiguration, DefaultRetention, ExpirationStatus,
        LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration, ObjectLockConfiguration,
        ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule, ObjectOwnership, OwnershipControls,
        OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
        ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
    };
    let resolver = p.resolver;
    let name = match p.str("BucketName")? {
        Some(name) => name,
        None => bucket_name(&resolver.stack_name, id),
    };
    // us-east-1 is the one region that takes no location constraint.
    let location = (resolver.region != "us-east-1").then(|| {
        CreateBucketConfiguration::builder()
            .location_constraint(BucketLocationConstraint::from(resolver.region.as_str()))
            .build()
    });
    c.s3.create_bucket()
        .bucket(&name)
        .set_create_bucket_configuration(location)
        .set_object_lock_enabled_for_bucket(p.bool("ObjectLockEnabled")?)
        .send()
        .await
        .or_aws(format_args!("s3:CreateBucket {id}"))?;

    if let Some(v) = p.obj("VersioningConfiguration")? {
        let status = BucketVersioningStatus::from(v.required("Status")?.as_str());
        c.s3.put_bucket_versioning()
            .bucket(&name)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .or_aws(format_args!("s3:PutBucketVersioning {id}"))?;
    }
    if let Some(b) = p.obj("PublicAccessBlockConfiguration")? {
        let block = PublicAccessBlockConfiguration::builder()
            .set_block_public_acls(b.bool("BlockPublicAcls")?)
            .set_block_public_policy(b.bool("BlockPublicPolicy")?)
            .set_ignore_public_acls(b.bool("IgnorePublicAcls")?)
            .set_restrict_public_buckets(b.bool("RestrictPublicBuckets")?)
            .build();
        c.s3.put_public_access_block()
            .bucket(&name)
            .public_access_block_configuration(block)
            .send()
            .await
            .or_aws(format_args!("s3:PutPublicAccessBlock {id}"))?;
    }
    if let Some(e) = p.obj("BucketEncryption")? {
        let mut rules = Vec::new();
        for r in e.list("ServerSideEncryptionConfiguration")? {
            let default = match r.obj("ServerSideEncryptionByDefault")? {
                Some(d) => Some(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::from(d.required("SSEAlgorithm")?.as_str()))
                        .set_kms_master_key_id(d.str("KMSMasterKeyID")?)
                        .build()
                        .or_invalid(&d.path)?,
                ),
                None => None,
            };
            rules.push(
                ServerSideEncryptionRule::builder()
                    .set_apply_server_side_encryption_by_default(default)
                    .set_bucket_key_enabled(r.bool("BucketKeyEnabled")?)
                    .build(),
            );
        }
        let configuration = ServerSideEncryptionConfiguration::builder()
            .set_rules(Some(rules))
            .build()
            .or_invalid(&e.path)?;
        c.s3.put_bucket_encryption()
            .bucket(&name)
            .server_side_encryption_configuration(configuration)
            .send()
            .await
            .or_aws(format_args!("s3:PutBucketEncryption {id}"))?;
    }
    if let Some(lock) = p.obj("ObjectLockConfiguration")? {
        let retention = match lock
            .obj("Rule")?
            .map(|r| r.obj("DefaultRetention"))
            .transpose()?
            .flatten()
        {
            Some(d) => Some(
                ObjectLockRule::builder()
                    .default_retention(
                        DefaultRetention::builder()
                            .set_mode(d.str("Mode")?.as_deref().map(ObjectLockRetentionMode::from))
                            .set_days(d.i32("Days")?)
                            .set_years(d.i32("Years")?)
                            .build(),
                    )
                    .build(),
            ),
            None => None,
        };
        let configuration = ObjectLockConfiguration::builder()
            .object_lock_enabled(ObjectLockEnabled::Enabled)
            .set_rule(retention)
            .build();
        c.s3.put_object_lock_configuration()
            .bucket(&name)
            .object_lock_configuration(configuration)
            .send()
            .await
            .or_aws(format_args!("s3:PutObjectLockConfiguration {id}"))?;
    }
    if let Some(l) = p.obj("LifecycleConfiguration")? {
        // Expiry and clean-up rules; storage-class transitions mean nothing locally.
        let mut rules = Vec::new();
        for r in l.list("Rules")? {
            let expiration = match (r.i32("ExpirationInDays")?, r.bool("ExpiredObjectDeleteMarker")?) {
                (None, None) => None,
                (days, marker) => Some(
                    LifecycleExpiration::builder()
                        .set_days(days)
                        .set_expired_object_delete_marker(marker)
                        .build(),
                ),
            };
            let noncurrent = match r.obj("NoncurrentVersionExpiration")? {
                Some(n) => Some(
                    NoncurrentVersionExpiration::builder()
                        .set_noncurrent_days(n.i32("NoncurrentDays")?)
                        .set_newer_noncurrent_versions(n.i32("NewerNoncurrentVersions")?)
                        .build(),
                ),
                None => r
                    .i32("NoncurrentVersionExpirationInDays")?
                    .map(|days| NoncurrentVersionExpiration::builder().noncurrent_days(days).build()),
            };
            let abort = match r.obj("AbortIncompleteMultipartUpload")? {
                Some(a) => Some(
                    AbortIncompleteMultipartUpload::builder()
                        .set_days_after_initiation(a.i32("DaysAfterInitiation")?)
                        .build(),
                ),
                None => None,
            };
            rules.push(
                LifecycleRule::builder()
                    .set_id(r.str("Id")?)
                    .status(ExpirationStatus::from(r.required("Status")?.as_str()))
                    .filter(
                        LifecycleRuleFilter::builder()
                            .prefix(r.str("Prefix")?.unwrap_or_default())
                            .build(),
                    )
                    .set_expiration(expiration)
                    .set_noncurrent_version_expiration(noncurrent)
                    .set_abort_incomplete_multipart_upload(abort)
                    .build()
                    .or_invalid(&r.path)?,
            );
        }
        let configuration = BucketLifecycleConfiguration::builder()
            .set_rules(Some(rules))
            .build()
            .or_invalid(&l.path)?;
        let result =
            c.s3.put_bucket_lifecycle_configuration()
                .bucket(&name)
                .lifecycle_configuration(configuration)
                .send()
                .await;
        // The emulator never expires objects anyway: a refusal is noted, not fatal.
        if let Err(e) = result {
            resolver.degrade(format!("{id}.LifecycleConfiguration"), &e);
        }
    }
    if let Some(cors) = p.obj("CorsConfiguration")? {
        let mut rules = Vec::new();
        for r in cors.list("CorsRules")? {
            rules.push(
                CorsRule::builder()
                    .set_id(r.str("Id")?)
                    .set_allowed_headers(r.some_strs("AllowedHeaders")?)
                    .set_allowed_methods(Some(r.strs("AllowedMethods")?))
                    .set_allowed_origins(Some(r.strs("AllowedOrigins")?))
                    .set_expose_headers(r.some_strs("ExposedHeaders")?)
                    .set_max_age_seconds(r.i32("MaxAge")?)
                    .build()
                    .or_invalid(&r.path)?,
            );
        }
        let configuration = CorsConfiguration::builder()
            .set_cors_rules(Some(rules))
            .build()
            .or_invalid(&cors.path)?;
        c.s3.put_bucket_cors()
            .bucket(&name)
            .cors_configuration(configuration)
            .send()
            .await
            .or_aws(format_args!("s3:PutBucketCors {id}"))?;
    }
    if let Some(o) = p.obj("OwnershipControls")? {
        let mut rules = Vec::new();
        for r in o.list("Rules")? {
            rules.push(
                OwnershipControlsRule::builder()
                    .object_ownership(ObjectOwnership::from(r.required("ObjectOwnership")?.as_str()))
                    .build()
                    .or_invalid(&r.path)?,
            );
        }
        let controls = OwnershipControls::builder()
            .set_rules(Some(rules))
            .build()
            .or_invalid(&o.path)?;
        let result =
            c.s3.put_bucket_ownership_controls()
                .bucket(&name)
                .ownership_controls(controls)
                .send()
                .await;
        // ACL handling is not something local tests exercise: a refusal is noted, not fatal.
        if let Err(e) = result {
            resolver.degrade(format!("{id}.OwnershipControls"), &e);
        }
    }
    if let Some(n) = p.obj("NotificationConfiguration")? {
        put_bucket_notifications(c, id, &name, &n).await?;
    }
    let tags = p
        .tags("Tags")?
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build().or_invalid(&p.path))
        .collect::<Result<Vec<_>, _>>()?;
    if !tags.is_empty() {
        c.s3.put_bucket_tagging()
            .bucket(&name)
            .tagging(Tagging::builder().set_tag_set(Some(tags)).build().or_invalid(&p.path)?)
            .send()
            .await
            .or_aws(format_args!("s3:PutBucketTagging {id}"))?;
    }

    Ok(Created::new(&name)
        .with("Arn", format!("arn:aws:s3:::{name}"))
        .with("DomainName", format!("{name}.s3.amazonaws.com"))
        .with(
            "RegionalDomainName",
            format!("{name}.s3.{}.amazonaws.com", resolver.region),
        ))
}

/// A bucket's notifications to SQS queues (the emulator delivers them, as S3 does, to the
/// queue the ARN names). Lambda, SNS and EventBridge destinations are refused: nothing local
/// would receive them.
async fn put_bucket_notifications(c: &Clients, id: &str, bucket: &str, n: &Props<'_>) -> Result<(), LocalError> {
    use aws_sdk_s3::types::{
        Event, FilterRule, FilterRuleName, NotificationConfiguration, NotificationConfigurationFilter,
        QueueConfiguration, S3KeyFilter,
    };
    for unsupported in [
        "LambdaConfigurations",
        "TopicConfigurations",
        "EventBridgeConfiguration",
    ] {
        if n.get(unsupported)?.is_some() {
            return Err(n.invalid(unsupported, "absent (only QueueConfigurations are delivered locally)"));
        }
    }
    let mut queues = Vec::new();
    for q in n.list("QueueConfigurations")? {
        let rules = match q.obj("Filter")?.map(|f| f.obj("S3Key")).transpose()?.flatten() {
            Some(key) => key
                .list("Rules")?
                .iter()
                .map(|r| {
                    Ok(FilterRule::builder()
                        .name(FilterRuleName::from(r.required("Name")?.as_str()))
                        .value(r.required("Value")?)
                        .build())
                })
                .collect::<Result<Vec<_>, LocalError>>()?,
            None => Vec::new(),
        };
        let filter = (!rules.is_empty()).then(|| {
            NotificationConfigurationFilter::builder()
                .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
                .build()
        });
        queues.push(
            QueueConfiguration::builder()
                .queue_arn(q.required("Queue")?)
                .events(Event::from(q.required("Event")?.as_str()))
                .set_filter(filter)
                .build()
                .or_invalid(&q.path)?,
        );
    }
    c.s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .set_queue_configurations(Some(queues))
                .build(),
        )
        .send()
        .await
        .or_aws(format_args!("s3:PutBucketNotificationConfiguration {id}"))?;
    Ok(())
}

/// `!Ref` is the queue's URL; `Arn` and `QueueName` as CloudFormation gives them.
async fn create_queue(c: &Clients, id: &str, p: &Props<'_>) -> Result<Created, LocalError> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let name = p.str("QueueName")?.unwrap_or_else(|| p.resolver.physical_name(id));
    let mut attributes = std::collections::HashMap::new();
    for (property, attribute) in [
        ("VisibilityTimeout", A::VisibilityTimeout),
        ("MessageRetentionPeriod", A::MessageRetentionPeriod),
        ("KmsDataKeyReusePeriodSeconds", A::KmsDataKeyReusePeriodSeconds),
        ("DelaySeconds", A::DelaySeconds),
        ("ReceiveMessageWaitTimeSeconds", A::ReceiveMessageWaitTimeSeconds),
        ("MaximumMessageSize", A::MaximumMessageSize),
    ] {
        if let Some(value) = p.int(property)? {
            attributes.insert(attribute, value.to_string());
        }
    }
    if let Some(key) = p.str("KmsMasterKeyId")? {
        attributes.insert(A::KmsMasterKeyId, key);
    }
    if let Some(managed) = p.bool("SqsManagedSseEnabled")? {
        attributes.insert(A::SqsManagedSseEnabled, managed.to_string());
    }
    if let Some(redrive) = p.json("RedrivePolicy")? {
        attributes.insert(A::RedrivePolicy, redrive);
    }
    let tags: std::collections::HashMap<String, String> = p.tags("Tags")?.into_iter().collect();
    let url = c
        .sqs
        .create_queue()
        .queue_name(&name)
        .set_attributes(Some(attributes))
        .set_tags((!tags.is_empty()).then_some(tags))
        .send()
        .await
        .or_aws(format_args!("sqs:CreateQueue {id}"))?
        .queue_url
        .ok_or_else(|| LocalError::Other("CreateQueue: no URL".into()))?;
    let arn = format!("arn:aws:sqs:{}:{ACCOUNT_ID}:{name}", p.resolver.region);
    Ok(Created::new(&url)
        .with("Arn", arn)
        .with("QueueName", &name)
        .with("QueueUrl", &url))
}

/// The policy is set on each queue it names (the emulator keeps it; it does not enforce it).
async fn create_queue_policy(c: &Clients, id: &str, p: &Props<'_>) -> Result<Created, LocalError> {
    use aws_sdk_sqs::types::QueueAttributeName;
    let policy = p
        .json("PolicyDocument")?
        .ok_or_else(|| p.invalid("PolicyDocument", "a policy document"))?;
    for queue in p.strs("Queues")? {
        c.sqs
            .set_queue_attributes()
            .queue_url(&queue)
            .attributes(QueueAttributeName::Policy, &policy)
            .send()
            .await
            .or_aws(format_args!("sqs:SetQueueAttributes {id}"))?;
    }
    Ok(Created::new(p.resolver.physical_name(id)))
}

async fn create_user_pool(c: &Clients, id: &str, p: &Props<'_>) -> Result<Created, LocalError> {
    use aws_sdk_cognitoidentityprovider::types::{
        AccountRecoverySettingType, AdminCreateUserConfigType, AliasAttributeType, AttributeDataType,
        DeletionProtectionType, NumberAttributeConstraintsType, PasswordPolicyType, RecoveryOptionNameType,
        RecoveryOptionType, SchemaAttributeType, SoftwareTokenMfaConfigType, StringAttributeConstraintsType,
        UserAttributeUpdateSettingsType, UserPoolMfaType, UserPoolPolicyType, UserPoolTierType, UsernameAttributeType,
        UsernameConfigurationType, VerifiedAttributeType,
    };
    let resolver = p.resolver;
    let name = p.str("UserPoolName")?.unwrap_or_else(|| resolver.physical_name(id));

    let policies = match p
        .obj("Policies")?
        .map(|x| x.obj("PasswordPolicy"))
        .transpose()?
        .flatten()
    {
        Some(pw) => Some(
            UserPoolPolicyType::builder()
                .password_policy(
                    PasswordPolicyType::builder()
                        .set_minimum_length(pw.i32("MinimumLength")?)
                        .set_require_uppercase(pw.bool("RequireUppercase")?)
                        .set_require_lowercase(pw.bool("RequireLowercase")?)
                        .set_require_numbers(pw.bool("RequireNumbers")?)
                        .set_require_symbols(pw.bool("RequireSymbols")?)
                        .set_temporary_password_validity_days(pw.i32("TemporaryPasswordValidityDays")?)
                        .set_password_history_size(pw.i32("PasswordHistorySize")?)
                        .build(),
                )
                .build(),
        ),
        None => None,
    };
    let mut schema = Vec::new();
    for a in p.list("Schema")? {
        let name = a.required("Name")?;
        // CloudFormation names custom attributes without the `custom:` prefix Cognito adds.
        let name = name.strip_prefix("custom:").unwrap_or(&name).to_owned();
        let strings = match a.obj("StringAttributeConstraints")? {
            Some(s) => Some(
                StringAttributeConstraintsType::builder()
                    .set_min_length(s.str("MinLength")?)
                    .set_max_length(s.str("MaxLength")?)
                    .build(),
            ),
            None => None,
        };
        let numbers = match a.obj("NumberAttributeConstraints")? {
            Some(n) => Some(
                NumberAttributeConstraintsType::builder()
                    .set_min_value(n.str("MinValue")?)
                    .set_max_value(n.str("MaxValue")?)
                    .build(),
            ),
            None => None,
        };
        schema.push(
            SchemaAttributeType::builder()
                .name(name)
                .set_attribute_data_type(a.str("AttributeDataType")?.as_deref().map(AttributeDataType::from))
                .set_mutable(a.bool("Mutable")?)
                .set_required(a.bool("Required")?)
                .set_developer_only_attribute(a.bool("DeveloperOnlyAttribute")?)
                .set_string_attribute_constraints(strings)
                .set_number_attribute_constraints(numbers)
                .build(),
        );
    }
    let admin_create = match p.obj("AdminCreateUserConfig")? {
        Some(a) => Some(
            AdminCreateUserConfigType::builder()
                .set_allow_admin_create_user_only(a.bool("AllowAdminCreateUserOnly")?)
                .set_unused_account_validity_days(a.i32("UnusedAccountValidityDays")?)
                .build(),
        ),
        None => None,
    };
    let username_config = match p.obj("UsernameConfiguration")? {
        Some(u) => Some(
            UsernameConfigurationType::builder()
                .set_case_sensitive(u.bool("CaseSensitive")?)
                .build()
                .or_invalid(&u.path)?,
        ),
        None => None,
    };
    let recovery = match p.obj("AccountRecoverySetting")? {
        Some(r) => {
            let mut mechanisms = Vec::new();
            for m in r.list("RecoveryMechanisms")? {
                mechanisms.push(
                    RecoveryOptionType::builder()
                        .name(RecoveryOptionNameType::from(m.required("Name")?.as_str()))
                        .set_priority(m.i32("Priority")?)
                        .build()
                        .or_invalid(&m.path)?,
                );
            }
            Some(
                AccountRecoverySettingType::builder()
                    .set_recovery_mechanisms(Some(mechanisms))
                    .build(),
            )
        }
        None => None,
    };
    let update_settings = match p.obj("UserAttributeUpdateSettings")? {
        Some(u) => Some(
            UserAttributeUpdateSettingsType::builder()
                .set_attributes_require_verification_before_update(Some(
                    u.strs("AttributesRequireVerificationBeforeUpdate")?
                        .iter()
                        .map(|a| VerifiedAttributeType::from(a.as_str()))
                        .collect(),
                ))
                .build(),
        ),
        None => None,
    };
    let mfa = p.str("MfaConfiguration")?;
    let tags = match p.get("UserPoolTags")? {
        Some(Value::Mapping(m)) => Some(
            m.iter()
                .filter_map(|(k, v)| Some((scalar_text(k)?, scalar_text(v)?)))
                .collect(),
        ),
        Some(_) => return Err(p.invalid("UserPoolTags", "a mapping")),
        None => None,
    };

    let pool = c
        .cognito
        .create_user_pool()
        .pool_name(&name)
        .set_policies(policies)
        .set_username_attributes(
            p.some_strs("UsernameAttributes")?
                .map(|v| v.iter().map(|a| UsernameAttributeType::from(a.as_str())).collect()),
        )
        .set_alias_attributes(
            p.some_strs("AliasAttributes")?
                .map(|v| v.iter().map(|a| AliasAttributeType::from(a.as_str())).collect()),
        )
        .set_auto_verified_attributes(
            p.some_strs("AutoVerifiedAttributes")?
                .map(|v| v.iter().map(|a| VerifiedAttributeType::from(a.as_str())).collect()),
        )
        .set_mfa_configuration(mfa.as_deref().map(UserPoolMfaType::from))
        .set_schema((!schema.is_empty()).then_some(schema))
        .set_admin_create_user_config(admin_create)
        .set_username_configuration(username_config)
        .set_account_recovery_setting(recovery)
        .set_user_attribute_update_settings(update_settings)
        .set_deletion_protection(
            p.str("DeletionProtection")?
                .as_deref()
                .map(DeletionProtectionType::from),
        )
        .set_user_pool_tags(tags)
        .set_user_pool_tier(p.str("UserPoolTier")?.as_deref().map(UserPoolTierType::from))
        .send()
        .await
        .or_aws(format_args!("cognito-idp:CreateUserPool {id}"))?;
    let pool = pool
        .user_pool()
        .ok_or_else(|| LocalError::Other("CreateUserPool: no pool".into()))?;
    let pool_id = pool.id().unwrap_or_default().to_owned();

    // CloudFormation sets the MFA types through EnabledMfas; the API needs a separate call.
    let enabled_mfas = p.some_strs("EnabledMfas")?;
    let totp = enabled_mfas
        .as_ref()
        .is_none_or(|m| m.iter().any(|x| x == "SOFTWARE_TOKEN_MFA"));
    if matches!(mfa.as_deref(), Some("ON" | "OPTIONAL")) && totp {
        c.cognito
            .set_user_pool_mfa_config()
            .user_pool_id(&pool_id)
            .mfa_configuration(UserPoolMfaType::from(mfa.as_deref().unwrap_or_default()))
            .software_token_mfa_configuration(SoftwareTokenMfaConfigType::builder().enabled(true).build())
            .send()
            .await
            .or_aws(format_args!("cognito-idp:SetUserPoolMfaConfig {id}"))?;
    }

    let provider = format!("cognito-idp.{}.amazonaws.com/{pool_id}", resolver.region);
    Ok(Created::new(&pool_id)
        .with("UserPoolId", &pool_id)
        .with("Arn", pool.arn().unwrap_or_default())
        .with("ProviderURL", format!("https://{provider}"))
        .with("ProviderName", provider))
}

async fn create_user_pool_client(c: &Clients, id: &str, p: &Props<'_>) -> Result<Created, LocalError> {
    use aws_sdk_cognitoidentityprovider::types::{
        ExplicitAuthFlowsType, OAuthFlowType, PreventUserExistenceErrorTypes, TimeUnitsType, TokenValidityUnitsType,
    };
    let units = match p.obj("TokenValidityUnits")? {
        Some(u) => {
            let unit = |key: &str| -> Result<Option<TimeUnitsType>, LocalError> {
                Ok(u.str(key)?.as_deref().map(TimeUnitsType::from))
            };
            Some(
                TokenValidityUnitsType::builder()
                    .set_access_token(unit("AccessToken")?)
                    .set_id_token(unit("IdToken")?)
                    .set_refresh_token(unit("RefreshToken")?)
                    .build(),
            )
        }
        None => None,
    };
    let client = c
        .cognito
        .create_user_pool_client()
        .user_pool_id(p.required("UserPoolId")?)
        .client_name(p.str("ClientName")?.unwrap_or_else(|| p.resolver.physical_name(id)))
        .set_explicit_auth_flows(
            p.some_strs("ExplicitAuthFlows")?
                .map(|v| v.iter().map(|f| ExplicitAuthFlowsType::from(f.as_str())).collect()),
        )
        .set_generate_secret(p.bool("GenerateSecret")?)
        .set_prevent_user_existence_errors(
            p.str("PreventUserExistenceErrors")?
                .as_deref()
                .map(PreventUserExistenceErrorTypes::from),
        )
        .set_enable_token_revocation(p.bool("EnableTokenRevocation")?)
        .set_access_token_validity(p.i32("AccessTokenValidity")?)
        .set_id_token_validity(p.i32("IdTokenValidity")?)
        .set_refresh_token_validity(p.i32("RefreshTokenValidity")?)
        .set_token_validity_units(units)
        .set_auth_session_validity(p.i32("AuthSessionValidity")?)
        .set_read_attributes(p.some_strs("ReadAttributes")?)
        .set_write_attributes(p.some_strs("WriteAttributes")?)
        .set_supported_identity_providers(p.some_strs("SupportedIdentityProviders")?)
        .set_callback_urls(p.some_strs("CallbackURLs")?)
        .set_logout_urls(p.some_strs("LogoutURLs")?)
        .set_default_redirect_uri(p.str("DefaultRedirectURI")?)
        .set_allowed_o_auth_flows(
            p.some_strs("AllowedOAuthFlows")?
                .map(|v| v.iter().map(|f| OAuthFlowType::from(f.as_str())).collect()),
        )
        .set_allowed_o_auth_scopes(p.some_strs("AllowedOAuthScopes")?)
        .set_allowed_o_auth_flows_user_pool_client(p.bool("AllowedOAuthFlowsUserPoolClient")?)
        .set_enable_propagate_additional_user_context_data(p.bool("EnablePropagateAdditionalUserContextData")?)
        .send()
        .await
        .or_aws(format_args!("cognito-idp:CreateUserPoolClient {id}"))?;
    let client = client
        .user_pool_client()
        .ok_or_else(|| LocalError::Other("CreateUserPoolClient: no client".into()))?;
    let client_id = client.client_id().unwrap_or_default().to_owned();
    let mut created = Created::new(&client_id)
        .with("ClientId", &client_id)
        .with("Name", client.client_name().unwrap_or_default());
    if let Some(secret) = client.client_secret() {
        created = created.with("ClientSecret", secret);
    }
    Ok(created)
}

async fn create_user_pool_group(c: &Clients, id: &str, p: &Props<'_>) -> Result<Created, LocalError> {
    let name = p.str("GroupName")?.unwrap_or_else(|| p.resolver.physical_name(id));
    c.cognito
        .create_group()
        .group_name(&name)
        .user_pool_id(p.required("UserPoolId")?)
        .set_description(p.str("Description")?)
        .set_precedence(p.i32("Precedence")?)
        .send()
        .await
        .or_aws(format_args!("cognito-idp:CreateGroup {id}"))?;
    Ok(Created::new(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Value {
        long_form(serde_norway::from_str(yaml).expect("yaml"))
    }

    #[test]
    fn short_forms_become_long_forms() {
        let v = parse("a: !Ref X\nb: !GetAtt T.StreamArn\nc: !Sub '${X}-${AWS::Region}'\nd: !If [C, 1, 2]");
        assert_eq!(v["a"]["Ref"], Value::from("X"));
        assert_eq!(v["b"]["Fn::GetAtt"][1], Value::from("StreamArn"));
        assert!(v["c"]["Fn::Sub"].is_string());
        assert!(v["d"]["Fn::If"].is_sequence());
    }

    #[test]
    fn references_and_order() {
        let resources = parse(
            "Alias: {Type: AWS::KMS::Alias, Properties: {AliasName: alias/x, TargetKeyId: !Ref Key}}\n\
             Table: {Type: AWS::DynamoDB::Table, Properties: {X: !Sub '${Key.Arn}/${Fn}'}}\n\
             Fn: {Type: AWS::Serverless::Function}\n\
             Key: {Type: AWS::KMS::Key}",
        );
        let (order, skipped) = creation_order(resources.as_mapping().unwrap()).unwrap();
        let ids: Vec<&str> = order.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["Key", "Alias", "Table"]);
        assert_eq!(skipped, ["Fn"]);
    }

    #[test]
    fn intrinsics_resolve() {
        let template = parse(
            "Parameters: {Stage: {Type: String, Default: dev}}\n\
             Conditions: {IsProd: !Equals [!Ref Stage, prod], NotProd: !Not [!Condition IsProd]}\n\
             Resources: {Key: {Type: AWS::KMS::Key}, Fn: {Type: AWS::Serverless::Function}}",
        );
        let empty = Mapping::new();
        let mut r = Resolver {
            stack_name: "quire".into(),
            region: "us-east-1".into(),
            parameters: template["Parameters"].as_mapping().unwrap(),
            conditions: template["Conditions"].as_mapping().unwrap(),
            mappings: &empty,
            resources: template["Resources"].as_mapping().unwrap(),
            created: BTreeMap::new(),
            degraded: Mutex::new(Vec::new()),
        };
        r.created
            .insert("Key".into(), Created::new("k-1").with("Arn", "arn:k-1"));
        let value = parse(
            "a: !Sub '${AWS::StackName}-${Key}-${Key.Arn}-${!Lit}-${Stage}'\n\
             b: !If [IsProd, x, !Ref AWS::NoValue]\n\
             c: !If [NotProd, yes, no]\n\
             d: !Join [':', [a, !Ref Key]]\n\
             e: !Select [1, !Split [',', 'p,q']]\n\
             f: !GetAtt Fn.Arn",
        );
        let v = r.resolve(&value, 0).unwrap().unwrap();
        assert_eq!(v["a"], Value::from("quire-k-1-arn:k-1-${Lit}-dev"));
        assert!(v.get("b").is_none());
        assert_eq!(v["c"], Value::from("yes"));
        assert_eq!(v["d"], Value::from("a:k-1"));
        assert_eq!(v["e"], Value::from("q"));
        assert!(v["f"].as_str().unwrap().contains("unprovisioned/Fn/Arn"));
    }

    #[test]
    fn bucket_names_are_valid() {
        assert_eq!(
            bucket_name("Quire_Local", "AttachmentsBucket"),
            "quire-local-attachmentsbucket"
        );
    }
}
