//! ffmpeg as the scenarios run it to make and copy footage.

/// `ffmpeg -hide_banner -loglevel error -y`: quiet but for errors, overwriting its output; the
/// caller adds the inputs and outputs.
pub(crate) fn ffmpeg() -> tokio::process::Command {
    let mut command = tokio::process::Command::new("ffmpeg");
    command.args(["-hide_banner", "-loglevel", "error", "-y"]);
    command
}
