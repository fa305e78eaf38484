//! A private Mosquitto broker per test (so one can be stopped and restarted mid-test), and an
//! MQTT subscriber that records what arrives with its retain flag.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

/// A Mosquitto process on a loopback port, with persistence in its own directory.
pub struct Broker {
    pub port: u16,
    /// A second listener with TLS (certificate for `localhost` from [`Broker::ca_file`]).
    pub tls_port: Option<u16>,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority (`ca.pem`) and a certificate it signed for `localhost` only (not for
/// 127.0.0.1) (`server.pem`, `server.key`), made in `dir` for this test only.
fn make_certificates(dir: &std::path::Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "1", "-subj", "/CN=heldar test CA"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    let mut request = vec!["req", "-subj", "/CN=localhost"];
    request.extend(ec);
    request.extend(["-keyout", "server.key", "-out", "server.csr"]);
    openssl(dir, &request);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "1",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    // Mosquitto started as root loads certificates after dropping to its own user: let it read
    // this throwaway key.
    use std::os::unix::fs::PermissionsExt;
    let readable = |path: &std::path::Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    readable(dir, 0o755);
    readable(&dir.join("server.key"), 0o644);
}

fn mosquitto() -> PathBuf {
    for candidate in ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"] {
        if std::path::Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    "mosquitto".into()
}

/// Whether the broker binary is here (in CI it must be).
pub fn available() -> bool {
    let here = std::process::Command::new(mosquitto())
        .arg("-h")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    assert!(here || !super::in_ci(), "mosquitto is required in CI");
    here
}

impl Broker {
    pub async fn start() -> Broker {
        Self::start_with(false).await
    }

    /// A broker that also listens with TLS on [`Broker::tls_port`].
    pub async fn start_tls() -> Broker {
        Self::start_with(true).await
    }

    async fn start_with(tls: bool) -> Broker {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let mut conf = format!(
            "allow_anonymous true\npersistence true\npersistence_location {}/\nautosave_interval 1\nlistener {port} 127.0.0.1\n",
            dir.path().display()
        );
        let tls_port = tls.then(|| {
            make_certificates(dir.path());
            let tls_port = free_port();
            let at = |name: &str| dir.path().join(name).display().to_string();
            conf.push_str(&format!(
                "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
                at("ca.pem"),
                at("server.pem"),
                at("server.key")
            ));
            tls_port
        });
        std::fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
        let mut broker = Broker {
            port,
            tls_port,
            dir,
            child: None,
        };
        broker.up().await;
        broker
    }

    /// The certificate authority of the TLS listener's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Starts the process and waits until it accepts connections.
    pub async fn up(&mut self) {
        let child = std::process::Command::new(mosquitto())
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("mosquitto starts");
        self.child = Some(child);
        let ports: Vec<u16> = std::iter::once(self.port).chain(self.tls_port).collect();
        for _ in 0..100 {
            let mut listening = true;
            for port in &ports {
                listening &= tokio::net::TcpStream::connect(("127.0.0.1", *port))
                    .await
                    .is_ok();
            }
            if listening {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("mosquitto did not listen on {ports:?}");
    }

    /// Stops it gracefully (SIGTERM: it saves its persistent sessions).
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One message received.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Message {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// A subscriber to `heldar/#` and `homeassistant/#` at QoS 1. With a `session` name its
/// session persists on the broker (messages wait for it while it is away or the broker restarts).
pub struct Subscriber {
    pub got: Arc<Mutex<Vec<Message>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Subscriber {
    pub async fn connect(port: u16, session: Option<&str>) -> Subscriber {
        let id = session
            .map(str::to_owned)
            .unwrap_or_else(|| format!("t{}", uuid::Uuid::new_v4().simple()));
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_clean_session(session.is_none());
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        let got: Arc<Mutex<Vec<Message>>> = Arc::default();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let mut ready_tx = Some(ready_tx);
        let sink = got.clone();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        client
                            .subscribe("heldar/#", QoS::AtLeastOnce)
                            .await
                            .unwrap();
                        client
                            .subscribe("homeassistant/#", QoS::AtLeastOnce)
                            .await
                            .unwrap();
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        if let Some(tx) = ready_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        sink.lock().unwrap().push(Message {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), ready_rx)
            .await
            .expect("subscribed")
            .unwrap();
        Subscriber { got, task }
    }

    pub fn messages(&self) -> Vec<Message> {
        self.got.lock().unwrap().clone()
    }

    /// Waits up to 15 s until a message on `topic` satisfies `check`.
    pub async fn wait_for(&self, topic: &str, check: impl Fn(&Message) -> bool) -> Message {
        self.wait_for_within(topic, Duration::from_secs(15), check)
            .await
    }

    /// Waits up to `limit` until a message on `topic` satisfies `check`.
    pub async fn wait_for_within(
        &self,
        topic: &str,
        limit: Duration,
        check: impl Fn(&Message) -> bool,
    ) -> Message {
        for _ in 0..limit.as_millis() / 50 {
            if let Some(m) = self
                .messages()
                .into_iter()
                .find(|m| m.topic == topic && check(m))
            {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no matching message on {topic}; got {} messages, the last: {:?}",
            self.messages().len(),
            self.messages()
                .iter()
                .rev()
                .take(20)
                .map(|m| (&m.topic, m.text()))
                .collect::<Vec<_>>()
        );
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.task.abort();
    }
}
