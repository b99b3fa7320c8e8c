pub mod webrtc;
