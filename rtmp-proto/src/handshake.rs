//! The RTMP handshake (RTMP 1.0 §5.2): C0/C1/C2 from the client, S0/S1/S2 from the server.
//!
//! Two flavours exist in the wild. The simple one of the specification (C1 = time, four zero
//! bytes, 1528 random bytes; S2 echoes C1) and the "complex" one of Flash Player and Flash
//! Media Server that ffmpeg, librtmp and OBS speak: C1 carries a non-zero version and an
//! HMAC-SHA256 digest placed at an offset computed from the packet itself (two layouts,
//! "schemes" 0 and 1), S1 answers with its own digest, and S2/C2 end with a signature keyed
//! by the peer's digest. The keys are the well-known "Genuine Adobe Flash Player 001" and
//! "Genuine Adobe Flash Media Server 001" strings.
//!
//! [`ServerHandshake`] answers a complex C1 with a complex S1/S2 and anything else with the
//! simple handshake. [`ClientHandshake`] sends a complex C1 by default (as ffmpeg does) and
//! checks the server's answer loosely: a missing or wrong digest is reported, not fatal.
//!
//! Both take the time (`epoch`, milliseconds) and 1528 random bytes from the caller.

use bytes::{Buf, BufMut, BytesMut};
use sha2::{Digest, Sha256};

/// The only protocol version spoken (RTMP 1.0 §5.2.2).
const RTMP_VERSION: u8 = 3;
/// Length of C1, C2, S1 and S2.
pub const HANDSHAKE_PACKET_LEN: usize = 1536;
/// Length of the random part the caller supplies.
pub const RANDOM_LEN: usize = 1528;
const DIGEST_LEN: usize = 32;
/// The signed part of C2/S2: everything before the trailing 32-byte signature.
const SIGNED_LEN: usize = HANDSHAKE_PACKET_LEN - DIGEST_LEN;

/// The 32 bytes every Genuine key ends with.
const KEY_TAIL: [u8; 32] = [
    0xF0, 0xEE, 0xC2, 0x4A, 0x80, 0x68, 0xBE, 0xE8, 0x2E, 0x00, 0xD0, 0xD1, 0x02, 0x9E, 0x7E, 0x57,
    0x6E, 0xEC, 0x5D, 0x2D, 0x29, 0x80, 0x6F, 0xAB, 0x93, 0xB8, 0xE6, 0x36, 0xCF, 0xEB, 0x31, 0xAE,
];
const PLAYER_KEY_TEXT: &[u8; 30] = b"Genuine Adobe Flash Player 001";
const SERVER_KEY_TEXT: &[u8; 36] = b"Genuine Adobe Flash Media Server 001";

/// The version field a complex C1 carries (the Flash Player version ffmpeg claims, 9.0.124.2).
const CLIENT_VERSION: [u8; 4] = [9, 0, 124, 2];
/// The version field of a complex S1 (an FMS version).
const SERVER_VERSION: [u8; 4] = [4, 5, 0, 1];

/// Where the digest sits in a complex C1/S1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DigestScheme {
    /// Offset = (sum of bytes 8..12) % 728 + 12 (what ffmpeg and librtmp send).
    Scheme0,
    /// Offset = (sum of bytes 772..776) % 728 + 776.
    Scheme1,
}

impl DigestScheme {
    /// The digest's offset in `packet` (a C1 or S1).
    fn offset(self, packet: &[u8; HANDSHAKE_PACKET_LEN]) -> usize {
        let base = match self {
            Self::Scheme0 => 8,
            Self::Scheme1 => 772,
        };
        let sum: usize = packet[base..base + 4].iter().map(|&b| usize::from(b)).sum();
        sum % 728 + base + 4
    }
}

/// What a `handle_input` call achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeStatus {
    /// More bytes from the peer are needed.
    InProgress,
    /// The handshake is over; what is left in the input is the chunk stream.
    Done,
}

/// Errors of the handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The peer asked for a protocol version other than 3 (6 and 8 are RTMPE, not supported).
    #[error("unsupported rtmp version {version}")]
    UnsupportedVersion {
        /// The version byte received.
        version: u8,
    },
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        block_key[..DIGEST_LEN].copy_from_slice(&Sha256::digest(key));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block_key.map(|b| b ^ 0x36));
    for part in parts {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(block_key.map(|b| b ^ 0x5C));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn full_key<const N: usize>(text: &[u8; N]) -> Vec<u8> {
    let mut key = Vec::with_capacity(N + KEY_TAIL.len());
    key.extend_from_slice(text);
    key.extend_from_slice(&KEY_TAIL);
    key
}

/// The digest of a C1/S1 with the digest bytes at `offset` left out.
fn packet_digest(packet: &[u8; HANDSHAKE_PACKET_LEN], offset: usize, key: &[u8]) -> [u8; 32] {
    hmac_sha256(key, &[&packet[..offset], &packet[offset + DIGEST_LEN..]])
}

/// Finds a valid digest in a C1/S1: the scheme and the digest.
fn find_digest(
    packet: &[u8; HANDSHAKE_PACKET_LEN],
    key: &[u8],
) -> Option<(DigestScheme, [u8; DIGEST_LEN])> {
    [DigestScheme::Scheme0, DigestScheme::Scheme1]
        .into_iter()
        .find_map(|scheme| {
            let offset = scheme.offset(packet);
            let expected = packet_digest(packet, offset, key);
            (packet[offset..offset + DIGEST_LEN] == expected).then_some((scheme, expected))
        })
}

/// Writes a digest into a C1/S1 at the scheme's offset; returns it.
fn imprint_digest(
    packet: &mut [u8; HANDSHAKE_PACKET_LEN],
    scheme: DigestScheme,
    key: &[u8],
) -> [u8; DIGEST_LEN] {
    let offset = scheme.offset(packet);
    let digest = packet_digest(packet, offset, key);
    packet[offset..offset + DIGEST_LEN].copy_from_slice(&digest);
    digest
}

/// The trailing signature of a C2/S2: keyed by the peer's C1/S1 digest.
fn signature(signed: &[u8], peer_digest: &[u8; DIGEST_LEN], key: &[u8]) -> [u8; DIGEST_LEN] {
    let signing_key = hmac_sha256(key, &[peer_digest]);
    hmac_sha256(&signing_key, &[signed])
}

/// A C1/S1 with time, version field and the caller's random bytes.
fn hello_packet(epoch: u32, version: [u8; 4], random: &[u8; RANDOM_LEN]) -> Box<[u8; 1536]> {
    let mut packet = Box::new([0u8; HANDSHAKE_PACKET_LEN]);
    packet[..4].copy_from_slice(&epoch.to_be_bytes());
    packet[4..8].copy_from_slice(&version);
    packet[8..].copy_from_slice(random);
    packet
}

/// Copies a 1536-byte packet out of `input` at `start`; the caller checked the length.
fn packet_at(input: &[u8], start: usize) -> Option<Box<[u8; HANDSHAKE_PACKET_LEN]>> {
    let slice = input.get(start..start + HANDSHAKE_PACKET_LEN)?;
    let mut packet = Box::new([0u8; HANDSHAKE_PACKET_LEN]);
    packet.copy_from_slice(slice);
    Some(packet)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    AwaitingC0C1,
    AwaitingC2,
    Done,
}

/// The server side of the handshake.
///
/// ```
/// use bytes::BytesMut;
/// use onair_rtmp_proto::{ClientHandshake, HandshakeStatus, ServerHandshake};
///
/// let mut client = ClientHandshake::new(0, &[1; 1528]);
/// let mut server = ServerHandshake::new(0, &[2; 1528]);
/// let (mut to_server, mut to_client) = (BytesMut::new(), BytesMut::new());
/// client.poll_transmit(&mut to_server);
/// server.handle_input(&mut to_server).unwrap();
/// server.poll_transmit(&mut to_client);
/// assert_eq!(client.handle_input(&mut to_client).unwrap(), HandshakeStatus::Done);
/// client.poll_transmit(&mut to_server);
/// assert_eq!(server.handle_input(&mut to_server).unwrap(), HandshakeStatus::Done);
/// assert!(server.digest_scheme().is_some()); // the complex handshake was used
/// ```
pub struct ServerHandshake {
    state: ServerState,
    epoch: u32,
    random: Box<[u8; RANDOM_LEN]>,
    pending: BytesMut,
    scheme: Option<DigestScheme>,
}

impl ServerHandshake {
    /// A server handshake; `epoch` is the S1 time field, `random` fills S1.
    #[must_use]
    pub fn new(epoch: u32, random: &[u8; RANDOM_LEN]) -> Self {
        Self {
            state: ServerState::AwaitingC0C1,
            epoch,
            random: Box::new(*random),
            pending: BytesMut::new(),
            scheme: None,
        }
    }

    /// Consumes handshake bytes from `input` (and nothing after them). Call it whenever bytes
    /// arrive, then [`poll_transmit`](Self::poll_transmit). Once it returns
    /// [`HandshakeStatus::Done`], what remains in `input` belongs to the chunk stream.
    pub fn handle_input(
        &mut self,
        input: &mut BytesMut,
    ) -> Result<HandshakeStatus, HandshakeError> {
        loop {
            match self.state {
                ServerState::AwaitingC0C1 => {
                    match input.first() {
                        None => return Ok(HandshakeStatus::InProgress),
                        Some(&RTMP_VERSION) => {}
                        Some(&version) => {
                            return Err(HandshakeError::UnsupportedVersion { version })
                        }
                    }
                    let Some(c1) = packet_at(input, 1) else {
                        return Ok(HandshakeStatus::InProgress);
                    };
                    input.advance(1 + HANDSHAKE_PACKET_LEN);
                    self.answer(&c1);
                    self.state = ServerState::AwaitingC2;
                }
                ServerState::AwaitingC2 => {
                    // C2 is not checked: clients fill it inconsistently, and it proves nothing
                    // the TCP connection does not.
                    if input.len() < HANDSHAKE_PACKET_LEN {
                        return Ok(HandshakeStatus::InProgress);
                    }
                    input.advance(HANDSHAKE_PACKET_LEN);
                    self.state = ServerState::Done;
                }
                ServerState::Done => return Ok(HandshakeStatus::Done),
            }
        }
    }

    /// Queues S0, S1 and S2 in answer to C1.
    fn answer(&mut self, c1: &[u8; HANDSHAKE_PACKET_LEN]) {
        let client_complex = c1[4..8] != [0; 4];
        let found = if client_complex {
            find_digest(c1, PLAYER_KEY_TEXT)
        } else {
            None
        };
        self.pending.reserve(1 + 2 * HANDSHAKE_PACKET_LEN);
        self.pending.put_u8(RTMP_VERSION);
        match found {
            Some((scheme, c1_digest)) => {
                self.scheme = Some(scheme);
                let mut s1 = hello_packet(self.epoch, SERVER_VERSION, &self.random);
                imprint_digest(&mut s1, scheme, SERVER_KEY_TEXT);
                self.pending.put_slice(&s1[..]);
                let s2_body = &c1[..SIGNED_LEN];
                self.pending.put_slice(s2_body);
                let sig = signature(s2_body, &c1_digest, &full_key(SERVER_KEY_TEXT));
                self.pending.put_slice(&sig);
            }
            None => {
                let s1 = hello_packet(self.epoch, [0; 4], &self.random);
                self.pending.put_slice(&s1[..]);
                self.pending.put_slice(&c1[..]);
            }
        }
    }

    /// Appends the bytes to send to the client (S0+S1+S2 once C1 is in). Call it after every
    /// [`handle_input`](Self::handle_input).
    pub fn poll_transmit(&mut self, out: &mut BytesMut) {
        out.put(self.pending.split());
    }

    /// Whether the handshake is over.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.state == ServerState::Done
    }

    /// The digest layout of the client's complex C1, or `None` when the simple handshake was
    /// used (or C1 has not arrived).
    #[must_use]
    pub fn digest_scheme(&self) -> Option<DigestScheme> {
        self.scheme
    }
}

// Debug leaves out the 1.5 KB packets and random bytes.
impl std::fmt::Debug for ServerHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandshake")
            .field("state", &self.state)
            .field("epoch", &self.epoch)
            .field("pending", &self.pending.len())
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    AwaitingS0S1S2,
    Done,
}

/// The client side of the handshake. C0 and C1 are queued at creation: call
/// [`poll_transmit`](Self::poll_transmit) right away.
pub struct ClientHandshake {
    state: ClientState,
    c1: Box<[u8; HANDSHAKE_PACKET_LEN]>,
    /// The digest in C1 when the complex handshake is offered.
    c1_digest: Option<[u8; DIGEST_LEN]>,
    pending: BytesMut,
    s1_digest_valid: Option<bool>,
    s2_signature_valid: Option<bool>,
}

impl ClientHandshake {
    /// A complex (digest) handshake with scheme 0, as ffmpeg and librtmp do. Servers that only
    /// know the simple handshake accept it too.
    #[must_use]
    pub fn new(epoch: u32, random: &[u8; RANDOM_LEN]) -> Self {
        let mut c1 = hello_packet(epoch, CLIENT_VERSION, random);
        let digest = imprint_digest(&mut c1, DigestScheme::Scheme0, PLAYER_KEY_TEXT);
        Self::with_c1(c1, Some(digest))
    }

    /// The simple handshake of the specification (C1 version field zero).
    #[must_use]
    pub fn new_simple(epoch: u32, random: &[u8; RANDOM_LEN]) -> Self {
        Self::with_c1(hello_packet(epoch, [0; 4], random), None)
    }

    fn with_c1(c1: Box<[u8; HANDSHAKE_PACKET_LEN]>, c1_digest: Option<[u8; DIGEST_LEN]>) -> Self {
        let mut pending = BytesMut::with_capacity(1 + HANDSHAKE_PACKET_LEN);
        pending.put_u8(RTMP_VERSION);
        pending.put_slice(&c1[..]);
        Self {
            state: ClientState::AwaitingS0S1S2,
            c1,
            c1_digest,
            pending,
            s1_digest_valid: None,
            s2_signature_valid: None,
        }
    }

    /// Consumes S0, S1 and S2 from `input` (and nothing after them) and queues C2. Once it
    /// returns [`HandshakeStatus::Done`], what remains in `input` belongs to the chunk stream.
    pub fn handle_input(
        &mut self,
        input: &mut BytesMut,
    ) -> Result<HandshakeStatus, HandshakeError> {
        if self.state == ClientState::Done {
            return Ok(HandshakeStatus::Done);
        }
        match input.first() {
            None => return Ok(HandshakeStatus::InProgress),
            Some(&RTMP_VERSION) => {}
            Some(&version) => return Err(HandshakeError::UnsupportedVersion { version }),
        }
        let (Some(s1), Some(s2)) = (
            packet_at(input, 1),
            packet_at(input, 1 + HANDSHAKE_PACKET_LEN),
        ) else {
            return Ok(HandshakeStatus::InProgress);
        };
        input.advance(1 + 2 * HANDSHAKE_PACKET_LEN);
        self.answer(&s1, &s2);
        self.state = ClientState::Done;
        Ok(HandshakeStatus::Done)
    }

    fn answer(&mut self, s1: &[u8; HANDSHAKE_PACKET_LEN], s2: &[u8; HANDSHAKE_PACKET_LEN]) {
        let server_digest = match self.c1_digest {
            Some(c1_digest) => {
                let expected = signature(&s2[..SIGNED_LEN], &c1_digest, &full_key(SERVER_KEY_TEXT));
                self.s2_signature_valid = Some(s2[SIGNED_LEN..] == expected);
                let found = find_digest(s1, SERVER_KEY_TEXT);
                self.s1_digest_valid = Some(found.is_some());
                found.map(|(_, digest)| digest)
            }
            None => None,
        };
        self.pending.reserve(HANDSHAKE_PACKET_LEN);
        match server_digest {
            Some(digest) => {
                let body = &s1[..SIGNED_LEN];
                self.pending.put_slice(body);
                let sig = signature(body, &digest, &full_key(PLAYER_KEY_TEXT));
                self.pending.put_slice(&sig);
            }
            None => self.pending.put_slice(&s1[..]),
        }
    }

    /// Appends the bytes to send to the server (C0+C1 at first, C2 once S1 and S2 are in).
    /// Call it after creation and after every [`handle_input`](Self::handle_input).
    pub fn poll_transmit(&mut self, out: &mut BytesMut) {
        out.put(self.pending.split());
    }

    /// Whether the handshake is over.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.state == ClientState::Done
    }

    /// Whether S1 carried a valid server digest (`None`: simple handshake or not received).
    /// Informational only: like ffmpeg, a bad digest does not stop the connection.
    #[must_use]
    pub fn s1_digest_valid(&self) -> Option<bool> {
        self.s1_digest_valid
    }

    /// Whether S2 was signed with our C1 digest (`None`: simple handshake or not received).
    /// Informational only, as in ffmpeg: a mismatch does not stop the connection.
    #[must_use]
    pub fn s2_signature_valid(&self) -> Option<bool> {
        self.s2_signature_valid
    }

    /// The C1 this client sent (e.g. for tests).
    #[must_use]
    pub fn c1(&self) -> &[u8; HANDSHAKE_PACKET_LEN] {
        &self.c1
    }
}

impl std::fmt::Debug for ClientHandshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHandshake")
            .field("state", &self.state)
            .field("complex", &self.c1_digest.is_some())
            .field("pending", &self.pending.len())
            .field("s1_digest_valid", &self.s1_digest_valid)
            .field("s2_signature_valid", &self.s2_signature_valid)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    fn capture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/data/captures/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap()
    }

    fn packet(bytes: &[u8], start: usize) -> Box<[u8; HANDSHAKE_PACKET_LEN]> {
        packet_at(bytes, start).unwrap()
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2
        assert_eq!(
            hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]),
            hex!("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        // test case 6: a key longer than the block
        assert_eq!(
            hmac_sha256(
                &[0xAA; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            ),
            hex!("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        );
    }

    #[test]
    fn digest_offsets() {
        let mut p = [0u8; HANDSHAKE_PACKET_LEN];
        p[8..12].copy_from_slice(&[200, 200, 200, 200]);
        p[772..776].copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(DigestScheme::Scheme0.offset(&p), 800 % 728 + 12);
        assert_eq!(DigestScheme::Scheme1.offset(&p), 10 + 776);
        p[772..776].copy_from_slice(&[255; 4]);
        assert_eq!(DigestScheme::Scheme1.offset(&p), 1020 % 728 + 776);
    }

    /// ffmpeg's complex C1 (publish session) carries a valid scheme 0 digest, and nginx-rtmp's
    /// answer in the same capture has a valid S1 digest and an S2 signed with ffmpeg's C1
    /// digest: this checks both keys against a third-party implementation.
    #[test]
    fn ffmpeg_and_nginx_complex_handshake() {
        let c2s = capture("ffmpeg_publish.c2s.bin");
        let s2c = capture("ffmpeg_publish.s2c.bin");
        let c1 = packet(&c2s, 1);
        assert_eq!(&c1[4..8], &[9, 0, 124, 2]);
        let (scheme, c1_digest) = find_digest(&c1, PLAYER_KEY_TEXT).expect("ffmpeg C1 digest");
        assert_eq!(scheme, DigestScheme::Scheme0);

        let s1 = packet(&s2c, 1);
        let s2 = packet(&s2c, 1 + HANDSHAKE_PACKET_LEN);
        assert!(
            find_digest(&s1, SERVER_KEY_TEXT).is_some(),
            "nginx S1 digest"
        );
        let sig = signature(&s2[..SIGNED_LEN], &c1_digest, &full_key(SERVER_KEY_TEXT));
        assert_eq!(&s2[SIGNED_LEN..], &sig);

        // ffmpeg playing (ffmpeg_play) signs its C2 with nginx's S1 digest and the player key
        let play_c2s = capture("ffmpeg_play.c2s.bin");
        let play_s2c = capture("ffmpeg_play.s2c.bin");
        let (_, play_s1_digest) =
            find_digest(&packet(&play_s2c, 1), SERVER_KEY_TEXT).expect("nginx S1 digest");
        let c2 = packet(&play_c2s, 1 + HANDSHAKE_PACKET_LEN);
        let sig = signature(
            &c2[..SIGNED_LEN],
            &play_s1_digest,
            &full_key(PLAYER_KEY_TEXT),
        );
        assert_eq!(&c2[SIGNED_LEN..], &sig);
    }

    #[test]
    fn server_accepts_ffmpeg_complex_c0_c1() {
        let c2s = capture("ffmpeg_publish.c2s.bin");
        let mut server = ServerHandshake::new(1234, &[7; RANDOM_LEN]);
        let mut input = BytesMut::from(&c2s[..]);
        // byte by byte up to C0+C1: nothing happens before C1 is complete
        let mut partial = BytesMut::new();
        for &b in &c2s[..HANDSHAKE_PACKET_LEN] {
            partial.put_u8(b);
            assert_eq!(
                server.handle_input(&mut partial),
                Ok(HandshakeStatus::InProgress)
            );
        }
        assert_eq!(server.handle_input(&mut input), Ok(HandshakeStatus::Done));
        assert!(server.is_complete());
        assert_eq!(server.digest_scheme(), Some(DigestScheme::Scheme0));
        assert_eq!(input.len(), c2s.len() - 3073);
        assert_eq!(input[0] >> 6, 0); // the chunk stream starts with a format 0 header

        let mut out = BytesMut::new();
        server.poll_transmit(&mut out);
        assert_eq!(out.len(), 3073);
        assert_eq!(out[0], 3);
        let s1 = packet(&out, 1);
        let s2 = packet(&out, 1 + HANDSHAKE_PACKET_LEN);
        assert_eq!(&s1[..4], &1234u32.to_be_bytes());
        // what ffmpeg checks: S1 version >= 3, an S1 digest, S2 signed with its C1 digest
        assert!(s1[4] >= 3);
        assert!(find_digest(&s1, SERVER_KEY_TEXT).is_some());
        let (_, c1_digest) = find_digest(&packet(&c2s, 1), PLAYER_KEY_TEXT).unwrap();
        let sig = signature(&s2[..SIGNED_LEN], &c1_digest, &full_key(SERVER_KEY_TEXT));
        assert_eq!(&s2[SIGNED_LEN..], &sig);
    }

    #[test]
    fn server_answers_gstreamer_simple_handshake() {
        let c2s = capture("gstreamer_publish.c2s.bin");
        let mut server = ServerHandshake::new(0, &[7; RANDOM_LEN]);
        let mut input = BytesMut::from(&c2s[..]);
        assert_eq!(server.handle_input(&mut input), Ok(HandshakeStatus::Done));
        assert_eq!(server.digest_scheme(), None);
        assert_eq!(input.len(), c2s.len() - 3073);
        let mut out = BytesMut::new();
        server.poll_transmit(&mut out);
        assert_eq!(out.len(), 3073);
        assert_eq!(&out[5..9], &[0; 4]);
        assert_eq!(&out[9..1537], &[7; RANDOM_LEN]);
        assert_eq!(&out[1537..], &c2s[1..1537]); // S2 echoes C1
    }

    fn run_pair(
        mut client: ClientHandshake,
        server_random: &[u8; RANDOM_LEN],
    ) -> (ClientHandshake, ServerHandshake) {
        let mut server = ServerHandshake::new(99, server_random);
        let mut to_server = BytesMut::new();
        let mut to_client = BytesMut::new();
        client.poll_transmit(&mut to_server);
        to_server.extend_from_slice(b"after"); // must stay in the input
        assert_eq!(
            server.handle_input(&mut to_server),
            Ok(HandshakeStatus::InProgress)
        );
        server.poll_transmit(&mut to_client);
        to_client.extend_from_slice(b"chunks");
        assert_eq!(
            client.handle_input(&mut to_client),
            Ok(HandshakeStatus::Done)
        );
        assert_eq!(&to_client[..], b"chunks");
        let mut c2 = BytesMut::new();
        client.poll_transmit(&mut c2);
        assert_eq!(c2.len(), HANDSHAKE_PACKET_LEN);
        to_server.clear();
        to_server.extend_from_slice(&c2);
        to_server.extend_from_slice(b"after");
        assert_eq!(
            server.handle_input(&mut to_server),
            Ok(HandshakeStatus::Done)
        );
        assert_eq!(&to_server[..], b"after");
        assert!(client.is_complete() && server.is_complete());
        (client, server)
    }

    #[test]
    fn complex_client_with_our_server() {
        let random: [u8; RANDOM_LEN] = std::array::from_fn(|i| (i * 7 + 3) as u8);
        let (client, server) = run_pair(ClientHandshake::new(5, &random), &[0x42; RANDOM_LEN]);
        assert_eq!(server.digest_scheme(), Some(DigestScheme::Scheme0));
        assert_eq!(client.s1_digest_valid(), Some(true));
        assert_eq!(client.s2_signature_valid(), Some(true));
    }

    #[test]
    fn simple_client_with_our_server() {
        let (client, server) = run_pair(
            ClientHandshake::new_simple(5, &[1; RANDOM_LEN]),
            &[2; RANDOM_LEN],
        );
        assert_eq!(server.digest_scheme(), None);
        assert_eq!(client.s1_digest_valid(), None);
    }

    #[test]
    fn server_finds_scheme_1_digests() {
        let mut c1 = hello_packet(0, CLIENT_VERSION, &[9; RANDOM_LEN]);
        imprint_digest(&mut c1, DigestScheme::Scheme1, PLAYER_KEY_TEXT);
        let mut input = BytesMut::new();
        input.put_u8(3);
        input.put_slice(&c1[..]);
        let mut server = ServerHandshake::new(0, &[3; RANDOM_LEN]);
        assert_eq!(
            server.handle_input(&mut input),
            Ok(HandshakeStatus::InProgress)
        );
        assert_eq!(server.digest_scheme(), Some(DigestScheme::Scheme1));
        let mut out = BytesMut::new();
        server.poll_transmit(&mut out);
        let s1 = packet(&out, 1);
        assert_eq!(
            find_digest(&s1, SERVER_KEY_TEXT).map(|(s, _)| s),
            Some(DigestScheme::Scheme1)
        );
    }

    #[test]
    fn non_zero_version_without_digest_falls_back_to_simple() {
        let c1 = hello_packet(0, CLIENT_VERSION, &[9; RANDOM_LEN]);
        let mut input = BytesMut::new();
        input.put_u8(3);
        input.put_slice(&c1[..]);
        let mut server = ServerHandshake::new(0, &[3; RANDOM_LEN]);
        server.handle_input(&mut input).unwrap();
        assert_eq!(server.digest_scheme(), None);
        let mut out = BytesMut::new();
        server.poll_transmit(&mut out);
        assert_eq!(&out[1537..], &c1[..]);
    }

    #[test]
    fn client_checks_nginx_answer_loosely() {
        // nginx's S1 is valid, but its S2 is signed for ffmpeg's C1, not ours: not fatal
        let s2c = capture("ffmpeg_publish.s2c.bin");
        let mut client = ClientHandshake::new(0, &[5; RANDOM_LEN]);
        let mut input = BytesMut::from(&s2c[..]);
        assert_eq!(client.handle_input(&mut input), Ok(HandshakeStatus::Done));
        assert_eq!(client.s1_digest_valid(), Some(true));
        assert_eq!(client.s2_signature_valid(), Some(false));
        assert_eq!(input.len(), s2c.len() - 3073);
    }

    #[test]
    fn debug_is_short() {
        let server = ServerHandshake::new(0, &[0; RANDOM_LEN]);
        let client = ClientHandshake::new(0, &[0; RANDOM_LEN]);
        assert!(format!("{server:?}").len() < 200);
        assert_eq!(
            format!("{client:?}"),
            "ClientHandshake { state: AwaitingS0S1S2, complex: true, pending: 1537, \
             s1_digest_valid: None, s2_signature_valid: None, .. }"
        );
    }

    #[test]
    fn wrong_versions_are_errors() {
        let mut server = ServerHandshake::new(0, &[0; RANDOM_LEN]);
        let mut input = BytesMut::from(&[6u8][..]);
        assert_eq!(
            server.handle_input(&mut input),
            Err(HandshakeError::UnsupportedVersion { version: 6 })
        );
        let mut client = ClientHandshake::new(0, &[0; RANDOM_LEN]);
        let mut input = BytesMut::from(&b"HTTP/1.1"[..]);
        assert_eq!(
            client.handle_input(&mut input),
            Err(HandshakeError::UnsupportedVersion { version: b'H' })
        );
    }
}
