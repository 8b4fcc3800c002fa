//! Temporary simple handshake until transport's lands.
#![allow(dead_code, missing_docs, unreachable_pub)]
use bytes::{Buf, BytesMut};

use crate::handshake::HandshakeError;

pub struct ServerHandshake {
    stage: u8,
    out: BytesMut,
    s1: Vec<u8>,
}
impl ServerHandshake {
    pub fn new(epoch: u32, random: &[u8; 1528]) -> Self {
        let mut s1 = epoch.to_be_bytes().to_vec();
        s1.extend_from_slice(&[0; 4]);
        s1.extend_from_slice(random);
        Self {
            stage: 0,
            out: BytesMut::new(),
            s1,
        }
    }
    pub fn handle_input(&mut self, input: &mut BytesMut) -> Result<(), HandshakeError> {
        if self.stage == 0 && input.len() >= 1537 {
            if input[0] != 3 {
                return Err(HandshakeError::UnsupportedVersion { version: input[0] });
            }
            self.out.extend_from_slice(&[3]);
            self.out.extend_from_slice(&self.s1);
            self.out.extend_from_slice(&input[1..1537]);
            input.advance(1537);
            self.stage = 1;
        }
        if self.stage == 1 && input.len() >= 1536 {
            input.advance(1536);
            self.stage = 2;
        }
        Ok(())
    }
    pub fn poll_transmit(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(&self.out);
        self.out.clear();
    }
    pub fn is_complete(&self) -> bool {
        self.stage == 2
    }
}
pub struct ClientHandshake {
    stage: u8,
    out: BytesMut,
}
impl ClientHandshake {
    pub fn new_complex(epoch: u32, random: &[u8; 1528]) -> Self {
        Self::new_simple(epoch, random)
    }
    pub fn new_simple(epoch: u32, random: &[u8; 1528]) -> Self {
        let mut out = BytesMut::new();
        out.extend_from_slice(&[3]);
        out.extend_from_slice(&epoch.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(random);
        Self { stage: 0, out }
    }
    pub fn handle_input(&mut self, input: &mut BytesMut) -> Result<(), HandshakeError> {
        if self.stage == 0 && input.len() >= 3073 {
            self.out.extend_from_slice(&input[1..1537]);
            input.advance(3073);
            self.stage = 2;
        }
        Ok(())
    }
    pub fn poll_transmit(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(&self.out);
        self.out.clear();
    }
    pub fn is_complete(&self) -> bool {
        self.stage == 2
    }
}
