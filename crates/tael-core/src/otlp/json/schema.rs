//! The OTLP messages the JSON transcoder reads, as tables: each field's
//! JSON names, protobuf field number and wire form, from the
//! opentelemetry-proto definitions (`collector/{trace,logs,metrics}/v1`,
//! `trace/v1`, `logs/v1`, `metrics/v1`, `common/v1`, `resource/v1`).

/// How a field's JSON value is written.
#[derive(Clone, Copy)]
pub enum Kind {
    Str,
    /// A hex id of this many bytes (empty string = absent).
    Id(usize),
    /// `bytes` as base64.
    Base64,
    Fixed64,
    Fixed32,
    UInt32,
    UInt64,
    Int64,
    Int32,
    SFixed64,
    SInt32,
    /// An `int32` enum: an integer or one of these names (index = value).
    Enum(&'static [&'static str]),
    Double,
    Bool,
    /// A bool where anything else counts as false.
    LaxBool,
    Msg(&'static Msg),
}

impl Kind {
    /// Whether a repeated field of this kind is packed.
    pub fn packed(self) -> bool {
        matches!(self, Kind::Fixed64 | Kind::Double | Kind::UInt64)
    }
}

pub struct Field {
    pub camel: &'static str,
    pub snake: &'static str,
    pub tag: u32,
    pub kind: Kind,
    pub repeated: bool,
}

pub struct Msg(pub &'static [Field]);

impl Msg {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.0.iter().find(|f| f.camel == name || f.snake == name)
    }
}

const fn one(camel: &'static str, snake: &'static str, tag: u32, kind: Kind) -> Field {
    Field {
        camel,
        snake,
        tag,
        kind,
        repeated: false,
    }
}

const fn many(camel: &'static str, snake: &'static str, tag: u32, kind: Kind) -> Field {
    Field {
        camel,
        snake,
        tag,
        kind,
        repeated: true,
    }
}

const SPAN_KINDS: &[&str] = &[
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];
const STATUS_CODES: &[&str] = &["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"];
const TEMPORALITIES: &[&str] = &[
    "AGGREGATION_TEMPORALITY_UNSPECIFIED",
    "AGGREGATION_TEMPORALITY_DELTA",
    "AGGREGATION_TEMPORALITY_CUMULATIVE",
];
const SEVERITIES: &[&str] = &[
    "SEVERITY_NUMBER_UNSPECIFIED",
    "SEVERITY_NUMBER_TRACE",
    "SEVERITY_NUMBER_TRACE2",
    "SEVERITY_NUMBER_TRACE3",
    "SEVERITY_NUMBER_TRACE4",
    "SEVERITY_NUMBER_DEBUG",
    "SEVERITY_NUMBER_DEBUG2",
    "SEVERITY_NUMBER_DEBUG3",
    "SEVERITY_NUMBER_DEBUG4",
    "SEVERITY_NUMBER_INFO",
    "SEVERITY_NUMBER_INFO2",
    "SEVERITY_NUMBER_INFO3",
    "SEVERITY_NUMBER_INFO4",
    "SEVERITY_NUMBER_WARN",
    "SEVERITY_NUMBER_WARN2",
    "SEVERITY_NUMBER_WARN3",
    "SEVERITY_NUMBER_WARN4",
    "SEVERITY_NUMBER_ERROR",
    "SEVERITY_NUMBER_ERROR2",
    "SEVERITY_NUMBER_ERROR3",
    "SEVERITY_NUMBER_ERROR4",
    "SEVERITY_NUMBER_FATAL",
    "SEVERITY_NUMBER_FATAL2",
    "SEVERITY_NUMBER_FATAL3",
    "SEVERITY_NUMBER_FATAL4",
];

// common/v1 and resource/v1
static ANY_VALUE: Msg = Msg(&[
    one("stringValue", "string_value", 1, Kind::Str),
    one("boolValue", "bool_value", 2, Kind::Bool),
    one("intValue", "int_value", 3, Kind::Int64),
    one("doubleValue", "double_value", 4, Kind::Double),
    one("arrayValue", "array_value", 5, Kind::Msg(&ARRAY_VALUE)),
    one("kvlistValue", "kvlist_value", 6, Kind::Msg(&KEY_VALUE_LIST)),
    one("bytesValue", "bytes_value", 7, Kind::Base64),
    one(
        "stringValueStrindex",
        "string_value_strindex",
        8,
        Kind::Int32,
    ),
]);
static ARRAY_VALUE: Msg = Msg(&[many("values", "values", 1, Kind::Msg(&ANY_VALUE))]);
static KEY_VALUE_LIST: Msg = Msg(&[many("values", "values", 1, Kind::Msg(&KEY_VALUE))]);
static KEY_VALUE: Msg = Msg(&[
    one("key", "key", 1, Kind::Str),
    one("value", "value", 2, Kind::Msg(&ANY_VALUE)),
    one("keyStrindex", "key_strindex", 3, Kind::Int32),
]);
const fn attributes(tag: u32) -> Field {
    many("attributes", "attributes", tag, Kind::Msg(&KEY_VALUE))
}
const fn dropped_attributes(tag: u32) -> Field {
    one(
        "droppedAttributesCount",
        "dropped_attributes_count",
        tag,
        Kind::UInt32,
    )
}
static RESOURCE: Msg = Msg(&[attributes(1), dropped_attributes(2)]);
static SCOPE: Msg = Msg(&[
    one("name", "name", 1, Kind::Str),
    one("version", "version", 2, Kind::Str),
    attributes(3),
    dropped_attributes(4),
]);
const RESOURCE_FIELD: Field = one("resource", "resource", 1, Kind::Msg(&RESOURCE));
const SCOPE_FIELD: Field = one("scope", "scope", 1, Kind::Msg(&SCOPE));
const SCHEMA_URL: Field = one("schemaUrl", "schema_url", 3, Kind::Str);
const TRACE_ID: Kind = Kind::Id(16);
const SPAN_ID: Kind = Kind::Id(8);

// trace/v1
pub static TRACES: Msg = Msg(&[many(
    "resourceSpans",
    "resource_spans",
    1,
    Kind::Msg(&RESOURCE_SPANS),
)]);
static RESOURCE_SPANS: Msg = Msg(&[
    RESOURCE_FIELD,
    many("scopeSpans", "scope_spans", 2, Kind::Msg(&SCOPE_SPANS)),
    SCHEMA_URL,
]);
static SCOPE_SPANS: Msg = Msg(&[
    SCOPE_FIELD,
    many("spans", "spans", 2, Kind::Msg(&SPAN)),
    SCHEMA_URL,
]);
static SPAN: Msg = Msg(&[
    one("traceId", "trace_id", 1, TRACE_ID),
    one("spanId", "span_id", 2, SPAN_ID),
    one("traceState", "trace_state", 3, Kind::Str),
    one("parentSpanId", "parent_span_id", 4, SPAN_ID),
    one("flags", "flags", 16, Kind::Fixed32),
    one("name", "name", 5, Kind::Str),
    one("kind", "kind", 6, Kind::Enum(SPAN_KINDS)),
    one(
        "startTimeUnixNano",
        "start_time_unix_nano",
        7,
        Kind::Fixed64,
    ),
    one("endTimeUnixNano", "end_time_unix_nano", 8, Kind::Fixed64),
    attributes(9),
    dropped_attributes(10),
    many("events", "events", 11, Kind::Msg(&EVENT)),
    one(
        "droppedEventsCount",
        "dropped_events_count",
        12,
        Kind::UInt32,
    ),
    many("links", "links", 13, Kind::Msg(&LINK)),
    one("droppedLinksCount", "dropped_links_count", 14, Kind::UInt32),
    one("status", "status", 15, Kind::Msg(&STATUS)),
]);
static EVENT: Msg = Msg(&[
    one("timeUnixNano", "time_unix_nano", 1, Kind::Fixed64),
    one("name", "name", 2, Kind::Str),
    attributes(3),
    dropped_attributes(4),
]);
static LINK: Msg = Msg(&[
    one("traceId", "trace_id", 1, TRACE_ID),
    one("spanId", "span_id", 2, SPAN_ID),
    one("traceState", "trace_state", 3, Kind::Str),
    attributes(4),
    dropped_attributes(5),
    one("flags", "flags", 6, Kind::Fixed32),
]);
static STATUS: Msg = Msg(&[
    one("message", "message", 2, Kind::Str),
    one("code", "code", 3, Kind::Enum(STATUS_CODES)),
]);

// logs/v1
pub static LOGS: Msg = Msg(&[many(
    "resourceLogs",
    "resource_logs",
    1,
    Kind::Msg(&RESOURCE_LOGS),
)]);
static RESOURCE_LOGS: Msg = Msg(&[
    RESOURCE_FIELD,
    many("scopeLogs", "scope_logs", 2, Kind::Msg(&SCOPE_LOGS)),
    SCHEMA_URL,
]);
static SCOPE_LOGS: Msg = Msg(&[
    SCOPE_FIELD,
    many("logRecords", "log_records", 2, Kind::Msg(&LOG_RECORD)),
    SCHEMA_URL,
]);
static LOG_RECORD: Msg = Msg(&[
    one("timeUnixNano", "time_unix_nano", 1, Kind::Fixed64),
    one(
        "observedTimeUnixNano",
        "observed_time_unix_nano",
        11,
        Kind::Fixed64,
    ),
    one(
        "severityNumber",
        "severity_number",
        2,
        Kind::Enum(SEVERITIES),
    ),
    one("severityText", "severity_text", 3, Kind::Str),
    one("body", "body", 5, Kind::Msg(&ANY_VALUE)),
    attributes(6),
    dropped_attributes(7),
    one("flags", "flags", 8, Kind::Fixed32),
    one("traceId", "trace_id", 9, TRACE_ID),
    one("spanId", "span_id", 10, SPAN_ID),
    one("eventName", "event_name", 12, Kind::Str),
]);

// metrics/v1
pub static METRICS: Msg = Msg(&[many(
    "resourceMetrics",
    "resource_metrics",
    1,
    Kind::Msg(&RESOURCE_METRICS),
)]);
static RESOURCE_METRICS: Msg = Msg(&[
    RESOURCE_FIELD,
    many(
        "scopeMetrics",
        "scope_metrics",
        2,
        Kind::Msg(&SCOPE_METRICS),
    ),
    SCHEMA_URL,
]);
static SCOPE_METRICS: Msg = Msg(&[
    SCOPE_FIELD,
    many("metrics", "metrics", 2, Kind::Msg(&METRIC)),
    SCHEMA_URL,
]);
static METRIC: Msg = Msg(&[
    one("name", "name", 1, Kind::Str),
    one("description", "description", 2, Kind::Str),
    one("unit", "unit", 3, Kind::Str),
    one("gauge", "gauge", 5, Kind::Msg(&GAUGE)),
    one("sum", "sum", 7, Kind::Msg(&SUM)),
    one("histogram", "histogram", 9, Kind::Msg(&HISTOGRAM)),
    one(
        "exponentialHistogram",
        "exponential_histogram",
        10,
        Kind::Msg(&EXPONENTIAL_HISTOGRAM),
    ),
    one("summary", "summary", 11, Kind::Msg(&SUMMARY)),
    many("metadata", "metadata", 12, Kind::Msg(&KEY_VALUE)),
]);
const fn data_points(msg: &'static Msg) -> Field {
    many("dataPoints", "data_points", 1, Kind::Msg(msg))
}
const TEMPORALITY: Field = one(
    "aggregationTemporality",
    "aggregation_temporality",
    2,
    Kind::Enum(TEMPORALITIES),
);
const START: Field = one(
    "startTimeUnixNano",
    "start_time_unix_nano",
    2,
    Kind::Fixed64,
);
const TIME: Field = one("timeUnixNano", "time_unix_nano", 3, Kind::Fixed64);
const COUNT: Field = one("count", "count", 4, Kind::Fixed64);
static GAUGE: Msg = Msg(&[data_points(&NUMBER_POINT)]);
static SUM: Msg = Msg(&[
    data_points(&NUMBER_POINT),
    TEMPORALITY,
    one("isMonotonic", "is_monotonic", 3, Kind::LaxBool),
]);
static HISTOGRAM: Msg = Msg(&[data_points(&HISTOGRAM_POINT), TEMPORALITY]);
static EXPONENTIAL_HISTOGRAM: Msg = Msg(&[data_points(&EXPONENTIAL_POINT), TEMPORALITY]);
static SUMMARY: Msg = Msg(&[data_points(&SUMMARY_POINT)]);
static NUMBER_POINT: Msg = Msg(&[
    attributes(7),
    START,
    TIME,
    one("asDouble", "as_double", 4, Kind::Double),
    one("asInt", "as_int", 6, Kind::SFixed64),
    many("exemplars", "exemplars", 5, Kind::Msg(&EXEMPLAR)),
    one("flags", "flags", 8, Kind::UInt32),
]);
static HISTOGRAM_POINT: Msg = Msg(&[
    attributes(9),
    START,
    TIME,
    COUNT,
    one("sum", "sum", 5, Kind::Double),
    many("bucketCounts", "bucket_counts", 6, Kind::Fixed64),
    many("explicitBounds", "explicit_bounds", 7, Kind::Double),
    many("exemplars", "exemplars", 8, Kind::Msg(&EXEMPLAR)),
    one("flags", "flags", 10, Kind::UInt32),
    one("min", "min", 11, Kind::Double),
    one("max", "max", 12, Kind::Double),
]);
static EXPONENTIAL_POINT: Msg = Msg(&[
    attributes(1),
    START,
    TIME,
    COUNT,
    one("sum", "sum", 5, Kind::Double),
    one("scale", "scale", 6, Kind::SInt32),
    one("zeroCount", "zero_count", 7, Kind::Fixed64),
    one("positive", "positive", 8, Kind::Msg(&BUCKETS)),
    one("negative", "negative", 9, Kind::Msg(&BUCKETS)),
    one("flags", "flags", 10, Kind::UInt32),
    many("exemplars", "exemplars", 11, Kind::Msg(&EXEMPLAR)),
    one("min", "min", 12, Kind::Double),
    one("max", "max", 13, Kind::Double),
    one("zeroThreshold", "zero_threshold", 14, Kind::Double),
]);
static BUCKETS: Msg = Msg(&[
    one("offset", "offset", 1, Kind::SInt32),
    many("bucketCounts", "bucket_counts", 2, Kind::UInt64),
]);
static SUMMARY_POINT: Msg = Msg(&[
    attributes(7),
    START,
    TIME,
    COUNT,
    one("sum", "sum", 5, Kind::Double),
    many("quantileValues", "quantile_values", 6, Kind::Msg(&QUANTILE)),
    one("flags", "flags", 8, Kind::UInt32),
]);
static QUANTILE: Msg = Msg(&[
    one("quantile", "quantile", 1, Kind::Double),
    one("value", "value", 2, Kind::Double),
]);
static EXEMPLAR: Msg = Msg(&[
    many(
        "filteredAttributes",
        "filtered_attributes",
        7,
        Kind::Msg(&KEY_VALUE),
    ),
    one("timeUnixNano", "time_unix_nano", 2, Kind::Fixed64),
    one("asDouble", "as_double", 3, Kind::Double),
    one("asInt", "as_int", 6, Kind::SFixed64),
    one("spanId", "span_id", 4, SPAN_ID),
    one("traceId", "trace_id", 5, TRACE_ID),
]);
