//! The stack's golden image on each host: uploaded once into the dpe pool
//! under a name that carries its checksum, so a rebuilt image is a new
//! volume and existing linked clones keep their backing file. After the
//! upload the host's copy is read back and hashed: a disk or link that
//! damaged it must not become the backing file of every instance there.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::EngineError;
use super::hypervisor::Hypervisor;

/// The golden image's identity, computed on the appliance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageIdentity {
    pub sha256: String,
    /// `qcow2` or `raw`, from the file's magic bytes.
    pub format: &'static str,
    pub size_bytes: u64,
}

/// Paths of the golden volumes on one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoldenVolumes {
    pub disk: String,
    pub format: &'static str,
    pub kernel: Option<String>,
    pub initrd: Option<String>,
}

fn image_err(path: &Path) -> impl FnOnce(std::io::Error) -> EngineError + '_ {
    move |source| EngineError::Image {
        path: path.to_owned(),
        source,
    }
}

/// Hashes the image, reusing `<file>.sha256` while size and mtime match.
pub fn identify(path: &Path) -> Result<ImageIdentity, EngineError> {
    let meta = std::fs::metadata(path).map_err(image_err(path))?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let stamp = format!("{} {}", meta.len(), mtime);
    let sidecar = PathBuf::from(format!("{}.sha256", path.display()));
    let mut file = std::fs::File::open(path).map_err(image_err(path))?;
    let mut magic = [0u8; 4];
    let format = match file.read_exact(&mut magic) {
        Ok(()) if &magic == b"QFI\xfb" => "qcow2",
        Ok(()) | Err(_) => "raw",
    };
    if let Ok(cached) = std::fs::read_to_string(&sidecar)
        && let Some((cached_stamp, sha)) = cached.trim().rsplit_once(' ')
        && cached_stamp == stamp
    {
        return Ok(ImageIdentity {
            sha256: sha.to_owned(),
            format,
            size_bytes: meta.len(),
        });
    }
    let mut file = std::fs::File::open(path).map_err(image_err(path))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(image_err(path))?;
    let sha256 = hex::encode(hasher.finalize());
    // The cache is an optimization: a read-only image folder just rehashes.
    if let Ok(mut f) = std::fs::File::create(&sidecar) {
        let _ = writeln!(f, "{stamp} {sha256}");
    }
    Ok(ImageIdentity {
        sha256,
        format,
        size_bytes: meta.len(),
    })
}

fn upload(
    host: &dyn Hypervisor,
    pool: &str,
    name: &str,
    format: &'static str,
    file: &Path,
) -> Result<String, EngineError> {
    if let Some(path) = host.volume_path(pool, name)? {
        return Ok(path);
    }
    let len = std::fs::metadata(file).map_err(image_err(file))?.len();
    let mut reader = std::io::BufReader::new(std::fs::File::open(file).map_err(image_err(file))?);
    tracing::info!(
        uri = host.uri(),
        volume = name,
        bytes = len,
        "uploading a golden volume"
    );
    Ok(host.upload_volume(pool, name, format, &mut reader, len)?)
}

/// Reads the uploaded disk back from the host and compares its SHA-256
/// with the image's; a mismatch removes the volume (the next deploy
/// uploads it again) and fails with both checksums.
fn verify(
    host: &dyn Hypervisor,
    pool: &str,
    name: &str,
    identity: &ImageIdentity,
) -> Result<(), EngineError> {
    let found = host.volume_sha256(pool, name)?;
    match found {
        Some((sha256, _)) if sha256 == identity.sha256 => Ok(()),
        Some(_) | None => {
            // The error names both checksums; the task's failure logs it.
            host.delete_volume(pool, name)?;
            Err(EngineError::GoldenMismatch {
                uri: host.uri().to_owned(),
                volume: name.to_owned(),
                expected: identity.sha256.clone(),
                found: found.map_or_else(|| "nothing".to_owned(), |(sha, _)| sha),
            })
        }
    }
}

/// Makes sure the host's pool holds the golden disk (and kernel, initrd).
///
/// An upload cut off by a crash leaves a volume of the right name but
/// incomplete content, so a marker volume is written after the last upload
/// (and the disk's checksum checked on the host): without it, whatever
/// exists under the tag is deleted and uploaded again.
pub fn ensure(
    host: &dyn Hypervisor,
    pool: &str,
    stack_name: &str,
    identity: &ImageIdentity,
    disk: &Path,
    kernel: Option<&Path>,
    initrd: Option<&Path>,
) -> Result<GoldenVolumes, EngineError> {
    let names = GoldenNames::of(stack_name, &identity.sha256);
    let marker = names.marker();
    let disk_name = names.disk(identity.format);
    let complete = host.volume_path(pool, &marker)?.is_some();
    if !complete {
        for name in [&disk_name, &names.kernel(), &names.initrd()] {
            host.delete_volume(pool, name)?;
        }
    }
    let disk_path = upload(host, pool, &disk_name, identity.format, disk)?;
    if !complete {
        verify(host, pool, &disk_name, identity)?;
    }
    let kernel = kernel
        .map(|k| upload(host, pool, &names.kernel(), "raw", k))
        .transpose()?;
    let initrd = initrd
        .map(|i| upload(host, pool, &names.initrd(), "raw", i))
        .transpose()?;
    if host.volume_path(pool, &marker)?.is_none() {
        host.upload_volume(pool, &marker, "raw", &mut &b"1"[..], 1)?;
    }
    Ok(GoldenVolumes {
        disk: disk_path,
        format: identity.format,
        kernel,
        initrd,
    })
}

/// The names of one image's golden volumes in a host's pool, all under
/// its tag (`golden-STACK-SHA12`): the one place that spells them.
struct GoldenNames(String);

impl GoldenNames {
    fn of(stack_name: &str, sha256: &str) -> GoldenNames {
        GoldenNames(format!("golden-{stack_name}-{}", &sha256[..12]))
    }

    /// Written after the last upload: without it, the rest is not whole.
    fn marker(&self) -> String {
        format!("{}.complete", self.0)
    }

    /// The disk, by its format (`qcow2` or `raw`).
    fn disk(&self, format: &str) -> String {
        format!("{}.{format}", self.0)
    }

    fn kernel(&self) -> String {
        format!("{}.vmlinuz", self.0)
    }

    fn initrd(&self) -> String {
        format!("{}.initrd", self.0)
    }
}

/// The golden volumes of the image `sha256` if the host holds them whole
/// (its marker is there): an instance of an older version is defined
/// again from them without reading that version's files.
pub fn present(
    host: &dyn Hypervisor,
    pool: &str,
    stack_name: &str,
    sha256: &str,
) -> Result<Option<GoldenVolumes>, EngineError> {
    let names = GoldenNames::of(stack_name, sha256);
    if host.volume_path(pool, &names.marker())?.is_none() {
        return Ok(None);
    }
    let (disk, format) = match host.volume_path(pool, &names.disk("qcow2"))? {
        Some(path) => (path, "qcow2"),
        None => match host.volume_path(pool, &names.disk("raw"))? {
            Some(path) => (path, "raw"),
            None => return Ok(None),
        },
    };
    Ok(Some(GoldenVolumes {
        disk,
        format,
        kernel: host.volume_path(pool, &names.kernel())?,
        initrd: host.volume_path(pool, &names.initrd())?,
    }))
}

/// Removes the golden volumes of the image `sha256`, marker first: a
/// removal cut off half-way leaves no volume that looks complete.
pub fn remove(
    host: &dyn Hypervisor,
    pool: &str,
    stack_name: &str,
    sha256: &str,
) -> Result<(), EngineError> {
    let names = GoldenNames::of(stack_name, sha256);
    for name in [
        names.marker(),
        names.disk("qcow2"),
        names.disk("raw"),
        names.kernel(),
        names.initrd(),
    ] {
        host.delete_volume(pool, &name)?;
    }
    Ok(())
}
