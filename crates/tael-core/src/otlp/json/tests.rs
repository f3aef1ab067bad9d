use super::*;
use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;

#[test]
fn decodes_a_span_with_string_and_number_ints() {
    let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
      "scopeSpans":[{"scope":{"name":"lib","version":"1"},"spans":[{"traceId":"0102030405060708090A0B0C0D0E0F10",
      "spanId":"0102030405060708","name":"GET /","kind":2,"startTimeUnixNano":"1000","endTimeUnixNano":2000,
      "attributes":[{"key":"n","value":{"intValue":"7"}},{"key":"b","value":{"bytesValue":"AQI="}}],
      "status":{"code":2,"message":"boom"}}]}]}]}"#;
    let req = decode_traces(body).unwrap();
    let s = &req.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(s.trace_id[0], 1);
    assert_eq!(s.start_time_unix_nano, 1000);
    assert_eq!(s.end_time_unix_nano, 2000);
    assert_eq!(s.kind, 2);
    assert_eq!(s.status.as_ref().unwrap().code, 2);
    assert_eq!(
        s.attributes[0].value.as_ref().unwrap().value,
        Some(V::IntValue(7))
    );
    assert_eq!(
        s.attributes[1].value.as_ref().unwrap().value,
        Some(V::BytesValue(vec![1, 2]))
    );
}

#[test]
fn errors_name_the_path() {
    for (body, path) in [
        (
            &br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"0102030405060708"}]}]}]}"#[..],
            "$.resourceSpans[0].scopeSpans[0].spans[0].traceId: expected 32 hex characters, got 2",
        ),
        (
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{},{"attributes":[{"key":"k","value":{"boolValue":"yes"}}]}]}]}]}"#,
            "$.resourceSpans[0].scopeSpans[0].spans[1].attributes[0].value.boolValue: expected a bool",
        ),
        (
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"kind":"SPAN_KIND_SIDEWAYS"}]}]}]}"#,
            "spans[0].kind: unknown enum value \"SPAN_KIND_SIDEWAYS\"",
        ),
        (
            br#"{"resourceSpans":[{"scopeSpans":{"spans":[]}}]}"#,
            "$.resourceSpans[0].scopeSpans: expected an array",
        ),
        (
            br#"{"resourceSpans":[{"resource":[1]}]}"#,
            "$.resourceSpans[0].resource: expected an object",
        ),
        (
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"droppedAttributesCount":4294967296}]}]}]}"#,
            "spans[0].droppedAttributesCount: out of range for uint32",
        ),
        (br#"[1,2]"#, "at $: expected an object"),
    ] {
        let e = decode_traces(body).unwrap_err().to_string();
        assert!(e.contains(path), "{e}");
    }
    let e = decode_traces(br#"{"resourceSpans":[{"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("invalid OTLP/JSON"), "{e}");
    let e = decode_traces(br#"{} trailing"#).unwrap_err().to_string();
    assert!(e.contains("invalid OTLP/JSON"), "{e}");
}

#[test]
fn accepts_enum_names_snake_case_nulls_and_unknown_fields() {
    let body = br#"{"resource_spans":[{"scope_spans":[{"spans":[{"kind":"span_kind_client",
      "trace_id":"0102030405060708090a0b0c0d0e0f10","name":null,"futureField":{"a":[1,{"b":2}]},
      "status":{"code":"STATUS_CODE_ERROR"}}]}]}]}"#;
    let req = decode_traces(body).unwrap();
    let s = &req.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(s.kind, 3);
    assert_eq!(s.trace_id.len(), 16);
    assert_eq!(s.name, "");
    assert_eq!(s.status.as_ref().unwrap().code, 2);
}

#[test]
fn nested_messages_longer_than_one_length_byte() {
    // A kvlist of 300 long strings inside an array inside an attribute:
    // three levels whose lengths need 2–3 varint bytes.
    let items: Vec<String> = (0..300)
        .map(|i| {
            format!(
                r#"{{"key":"k{i}","value":{{"stringValue":"{}"}}}}"#,
                "x".repeat(i)
            )
        })
        .collect();
    let body = format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{{"arrayValue":{{"values":[{{"kvlistValue":{{"values":[{}]}}}}]}}}},"severityNumber":"SEVERITY_NUMBER_WARN"}}]}}]}}]}}"#,
        items.join(",")
    );
    let req = decode_logs(body.as_bytes()).unwrap();
    let r = &req.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(r.severity_number, 13);
    let Some(V::ArrayValue(a)) = &r.body.as_ref().unwrap().value else {
        panic!("{r:?}")
    };
    let Some(V::KvlistValue(kv)) = &a.values[0].value else {
        panic!("{a:?}")
    };
    assert_eq!(kv.values.len(), 300);
    assert_eq!(kv.values[299].key, "k299");
    assert_eq!(
        kv.values[299].value.as_ref().unwrap().value,
        Some(V::StringValue("x".repeat(299)))
    );
}

#[test]
fn metrics_with_packed_arrays_and_special_doubles() {
    let body = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
      {"name":"h","histogram":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","dataPoints":[
        {"count":"3","sum":1.5,"bucketCounts":["1",2,0],"explicitBounds":[0.5,"Infinity"],"min":-2}]}},
      {"name":"e","exponentialHistogram":{"dataPoints":[{"scale":-3,"positive":{"offset":-2,"bucketCounts":[4,"5"]}}]}},
      {"name":"s","sum":{"isMonotonic":true,"dataPoints":[{"asInt":"-7","timeUnixNano":"5"}]}},
      {"name":"q","summary":{"dataPoints":[{"quantileValues":[{"quantile":0.99,"value":"NaN"}]}]}}]}]}]}"#;
    let req = decode_metrics(body).unwrap();
    let m = &req.resource_metrics[0].scope_metrics[0].metrics;
    let Some(Data::Histogram(h)) = &m[0].data else {
        panic!()
    };
    assert_eq!(h.aggregation_temporality, 1);
    let p = &h.data_points[0];
    assert_eq!((p.count, p.sum, p.min), (3, Some(1.5), Some(-2.0)));
    assert_eq!(p.bucket_counts, vec![1, 2, 0]);
    assert_eq!(p.explicit_bounds, vec![0.5, f64::INFINITY]);
    let Some(Data::ExponentialHistogram(e)) = &m[1].data else {
        panic!()
    };
    let p = &e.data_points[0];
    assert_eq!(p.scale, -3);
    let pos = p.positive.as_ref().unwrap();
    assert_eq!((pos.offset, pos.bucket_counts.clone()), (-2, vec![4, 5]));
    let Some(Data::Sum(s)) = &m[2].data else {
        panic!()
    };
    assert!(s.is_monotonic);
    assert_eq!(s.data_points[0].time_unix_nano, 5);
    assert_eq!(s.data_points[0].value, Some(pm_value::AsInt(-7)));
    let Some(Data::Summary(q)) = &m[3].data else {
        panic!()
    };
    assert!(q.data_points[0].quantile_values[0].value.is_nan());
}

use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as pm_value;
