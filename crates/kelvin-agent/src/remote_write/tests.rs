//! The writer against no receiver and against a canned one.

use super::*;
use std::sync::atomic::AtomicUsize;

fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("kelvin-rw-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A URL nobody answers: a port just released.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/api/v1/write", l.local_addr().unwrap())
}

fn cfg(url: &str, max_queue_bytes: u64) -> RemoteWriteConfig {
    RemoteWriteConfig {
        url: url.to_string(),
        interval_s: 1.0,
        max_queue_bytes,
        ca_file: None,
        token_file: None,
    }
}

fn batch(name: &str, samples: usize) -> Vec<Series> {
    vec![Series {
        labels: vec![("__name__".into(), name.into())],
        samples: (0..samples).map(|i| (i as i64 * 1000, i as f64)).collect(),
    }]
}

fn queued_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".rw"))
        .collect();
    names.sort();
    names
}

#[test]
fn queue_bound_drops_oldest_and_counts() {
    let dir = temp_dir("bound");
    let one = Queue::file_size(encode(&batch("m0", 3)).len());
    let w = RemoteWriter::open(&cfg(&dead_url(), 3 * one), &dir).unwrap();
    for i in 0..5 {
        w.enqueue(batch(&format!("m{i}"), 3)).unwrap();
    }
    let st = w.stats();
    assert_eq!(st.queue_requests, 3);
    assert_eq!(st.queue_bytes, 3 * one);
    assert_eq!(st.dropped_requests[DROP_QUEUE_FULL], 2);
    assert_eq!(st.dropped_samples[DROP_QUEUE_FULL], 6);
    // The two oldest went.
    assert_eq!(
        queued_names(&dir),
        [
            "00000000000000000003.rw",
            "00000000000000000004.rw",
            "00000000000000000005.rw"
        ]
    );
    // A request larger than the whole bound is refused, counted.
    let big = RemoteWriter::open(&cfg(&dead_url(), 10), &temp_dir("big"));
    let big = big.unwrap();
    assert!(matches!(
        big.enqueue(batch("m", 3)),
        Err(RemoteWriteError::TooLarge { .. })
    ));
    assert_eq!(big.stats().dropped_samples[DROP_QUEUE_FULL], 3);
    let big_dir = big.queue_dir();
    drop((w, big));
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(big_dir).unwrap();
}

#[test]
fn failed_send_keeps_the_queue_and_reopen_resumes() {
    let dir = temp_dir("reopen");
    let url = dead_url();
    {
        let w = RemoteWriter::open(&cfg(&url, 1 << 20), &dir).unwrap();
        w.enqueue(batch("a", 2)).unwrap();
        w.enqueue(batch("b", 1)).unwrap();
        let out = w.flush();
        assert_eq!(out.requests_sent, 0);
        assert_eq!(out.pending, 2);
        assert!(out.error.is_some());
        let st = w.stats();
        assert_eq!(st.failed_attempts, 1);
        assert!(st.backoff.is_some_and(|b| b <= MAX_BACKOFF));
        assert!(st.last_error.unwrap().contains("POST"));
    }
    // A write interrupted by a crash leaves a temporary, ignored and removed.
    std::fs::write(dir.join("00000000000000000003.rw.tmp"), b"KRW1").unwrap();
    let w = RemoteWriter::open(&cfg(&url, 1 << 20), &dir).unwrap();
    let st = w.stats();
    assert_eq!((st.queue_requests, st.dropped_requests.len()), (2, 0));
    assert!(!dir.join("00000000000000000003.rw.tmp").exists());
    w.enqueue(batch("c", 1)).unwrap();
    assert_eq!(
        queued_names(&dir).last().unwrap(),
        "00000000000000000003.rw"
    );
    drop(w);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn invalid_series_are_refused_and_counted() {
    let dir = temp_dir("invalid");
    let w = RemoteWriter::open(&cfg(&dead_url(), 1 << 20), &dir).unwrap();
    let no_name = vec![Series {
        labels: vec![("host".into(), "h1".into())],
        samples: vec![(0, 1.0)],
    }];
    let bad_label = vec![Series {
        labels: vec![("__name__".into(), "m".into()), ("1x".into(), "v".into())],
        samples: vec![(0, 1.0), (1, 2.0)],
    }];
    assert!(matches!(
        w.enqueue(no_name),
        Err(RemoteWriteError::Invalid { samples: 1, .. })
    ));
    assert!(w.enqueue(bad_label).is_err());
    let st = w.stats();
    assert_eq!(st.dropped_samples[DROP_INVALID], 3);
    assert_eq!(st.queue_requests, 0);
    w.enqueue(Vec::new()).unwrap();
    assert_eq!(w.stats().queue_requests, 0);
    drop(w);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn urls_are_checked_and_credentials_hidden() {
    let dir = temp_dir("url");
    for bad in ["ftp://h/x", "not a url", "http:///x"] {
        assert!(
            matches!(
                RemoteWriter::open(&cfg(bad, 1 << 20), &dir),
                Err(RemoteWriteError::Url { .. })
            ),
            "{bad}"
        );
    }
    let e = RemoteWriter::open(&cfg("gopher://u:pw@h:1/api/v1/write", 1 << 20), &dir)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("gopher://***@h:1/api/v1/write") && !e.contains("pw"),
        "{e}"
    );
    // A CA file that is missing, or holds no certificate.
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("ca.pem");
    std::fs::write(&not_pem, "not a certificate\n").unwrap();
    for ca in [dir.join("missing.pem"), not_pem] {
        let mut c = cfg("https://127.0.0.1:1/api/v1/write", 1 << 20);
        c.ca_file = Some(ca);
        assert!(matches!(
            RemoteWriter::open(&c, &dir.join("q")),
            Err(RemoteWriteError::Tls { .. })
        ));
    }
    // https with the built-in roots opens.
    let w = RemoteWriter::open(&cfg("https://u:pw@127.0.0.1:1/w", 1 << 20), &dir.join("q"));
    assert_eq!(w.unwrap().url(), "https://***@127.0.0.1:1/w");
    assert_eq!(hide_userinfo("http://h/a@b"), "http://h/a@b");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn backoff_doubles_within_bounds_and_honours_retry_after() {
    let mut b = Backoff::default();
    let first = b.fail(None);
    assert!(first >= MIN_BACKOFF / 2 && first <= MIN_BACKOFF);
    for _ in 0..40 {
        assert!(b.fail(None) <= MAX_BACKOFF);
    }
    assert!(b.fail(None) >= MAX_BACKOFF / 2);
    b.succeed();
    assert_eq!(b.fail(Some(Duration::from_secs(7))), Duration::from_secs(7));
    assert_eq!(b.fail(Some(Duration::from_secs(3600))), MAX_BACKOFF);
}

#[test]
fn run_returns_soon_after_stop() {
    let dir = temp_dir("run");
    let w = RemoteWriter::open(&cfg(&dead_url(), 1 << 20), &dir).unwrap();
    w.enqueue(batch("a", 1)).unwrap();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let h = s.spawn(|| w.run(Duration::from_secs(3600), &stop));
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        stop.store(true, Ordering::Relaxed);
        h.join().unwrap();
        assert!(t.elapsed() < Duration::from_millis(500));
    });
    // The loop tried at once, failed, and kept the request.
    assert_eq!(w.stats().failed_attempts, 1);
    assert_eq!(w.stats().queue_requests, 1);
    drop(w);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One request as a canned receiver saw it.
struct Seen {
    head: String,
    body: Vec<u8>,
}

/// A receiver on loopback answering each request with the next of `answers` (status line
/// and extra headers; the body echoes the request's `Authorization` header, as a careless
/// server might), then closing the connection.
fn canned_receiver(answers: Vec<&'static str>) -> (String, std::thread::JoinHandle<Vec<Seen>>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for answer in answers {
            let (mut conn, _) = listener.accept().unwrap();
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            let (head, body_start) = loop {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "connection closed mid-request");
                data.extend_from_slice(&buf[..n]);
                if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                    break (String::from_utf8_lossy(&data[..i]).to_string(), i + 4);
                }
            };
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .expect("a content-length");
            while data.len() < body_start + len {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "connection closed mid-body");
                data.extend_from_slice(&buf[..n]);
            }
            let echo = head
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
                .unwrap_or("")
                .to_string();
            let reply = format!(
                "HTTP/1.1 {answer}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{echo}",
                echo.len()
            );
            conn.write_all(reply.as_bytes()).unwrap();
            seen.push(Seen {
                head,
                body: data[body_start..body_start + len].to_vec(),
            });
        }
        seen
    });
    (url, handle)
}

#[test]
fn headers_token_and_statuses_against_a_canned_receiver() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("canned");
    let (url, receiver) = canned_receiver(vec![
        "503 Service Unavailable\r\nRetry-After: 3",
        "429 Too Many Requests",
        "500 Internal Server Error",
        "400 Bad Request",
        "204 No Content",
    ]);
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, "s3cr3t-t0ken\n").unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut c = cfg(&url, 1 << 20);
    c.token_file = Some(token_file);
    let w = RemoteWriter::open(&c, &dir.join("queue")).unwrap();
    assert!(!format!("{w:?}").contains("s3cr3t"));
    w.enqueue(batch("first", 2)).unwrap();
    w.enqueue(batch("second", 1)).unwrap();

    // 503 with Retry-After: kept, the backoff at least what the receiver asked.
    let out = w.flush();
    assert_eq!((out.requests_sent, out.pending), (0, 2));
    assert!(
        out.error.as_deref().unwrap().contains("HTTP 503"),
        "{out:?}"
    );
    let st = w.stats();
    assert!(st.backoff.unwrap() >= Duration::from_secs(3), "{st:?}");
    // The receiver echoed the token: it never reaches the error text.
    let err = st.last_error.unwrap();
    assert!(
        err.contains("Bearer ***") && !err.contains("s3cr3t"),
        "{err}"
    );
    // 429, then 500: kept.
    assert!(w.flush().error.unwrap().contains("HTTP 429"));
    assert!(w.flush().error.unwrap().contains("HTTP 500"));
    // 400: the first request dropped; 204: the second sent.
    let out = w.flush();
    assert_eq!(
        (
            out.requests_dropped,
            out.samples_dropped,
            out.requests_sent,
            out.samples_sent
        ),
        (1, 2, 1, 1)
    );
    assert_eq!((out.pending, out.error), (0, None));
    let st = w.stats();
    assert_eq!(st.failed_attempts, 4);
    assert_eq!(st.dropped_samples[DROP_REJECTED], 2);
    assert_eq!((st.requests_sent, st.samples_sent), (1, 1));
    assert_eq!(
        (st.backoff, st.queue_requests, st.queue_bytes),
        (None, 0, 0)
    );

    let seen = receiver.join().unwrap();
    assert_eq!(seen.len(), 5);
    for s in &seen {
        let head = s.head.to_ascii_lowercase();
        assert!(head.starts_with("post /api/v1/write http/1.1"), "{head}");
        for h in [
            "content-encoding: snappy",
            "content-type: application/x-protobuf",
            "x-prometheus-remote-write-version: 0.1.0",
            "authorization: bearer s3cr3t-t0ken",
            concat!("user-agent: kelvin-agent/", env!("CARGO_PKG_VERSION")),
        ] {
            assert!(head.lines().any(|l| l == h), "{h} missing in\n{head}");
        }
    }
    // The same first request four times, then the second.
    assert!(seen[..4].iter().all(|s| s.body == seen[0].body));
    assert_eq!(decode(&seen[0].body).unwrap(), batch("first", 2));
    assert_eq!(decode(&seen[4].body).unwrap(), batch("second", 1));
    drop(w);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_writer_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<RemoteWriter>();
}
