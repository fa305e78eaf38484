//! The processes the server runs for its cameras: which instance owns a camera, the one
//! supervisor of long-running ffmpeg processes, and every ffmpeg/ffprobe argument list.

pub mod ffmpeg;
pub mod ownership;
pub mod supervisor;
