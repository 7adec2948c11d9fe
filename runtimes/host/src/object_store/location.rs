//! What `--storage` and its companions name: a bucket and a key prefix on an S3 service, and
//! how to reach it. Credentials are never here: they come from the environment only.

use std::fmt;

/// An S3 bucket (and a key prefix inside it) to serve, from `--storage s3://BUCKET/PREFIX`,
/// `--s3-endpoint`, `--s3-region` and `--s3-path-style`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix served as `/`, without leading or trailing `/` (empty: the whole bucket).
    pub prefix: String,
    /// The service's URL (`http://127.0.0.1:9000` for an S3-compatible server); `None`: AWS,
    /// from the region.
    pub endpoint: Option<String>,
    /// The region; `None`: `AWS_REGION`, else `us-east-1`.
    pub region: Option<String>,
    /// Path-style requests (`ENDPOINT/BUCKET/KEY`) instead of virtual-hosted ones
    /// (`BUCKET.ENDPOINT/KEY`); `None`: path-style with an `--s3-endpoint` (what S3-compatible
    /// servers expect), virtual-hosted on AWS.
    pub path_style: Option<bool>,
}

impl S3Location {
    /// Parses `s3://BUCKET` or `s3://BUCKET/PREFIX` (the other fields left unset).
    pub fn parse(url: &str) -> Result<S3Location, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{url:?}: expected s3://BUCKET/PREFIX"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(format!(
                "{bucket:?}: a bucket name is 3 to 63 lowercase letters, digits, dots and dashes"
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|c| c == "." || c == "..") || prefix.contains("//") {
            return Err(format!(
                "{prefix:?}: a prefix has no empty, `.` or `..` part"
            ));
        }
        Ok(S3Location {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: None,
            region: None,
            path_style: None,
        })
    }

    /// Whether requests are path-style (see [`path_style`](Self::path_style)).
    pub fn uses_path_style(&self) -> bool {
        self.path_style.unwrap_or(self.endpoint.is_some())
    }
}

impl fmt::Display for S3Location {
    /// `s3://BUCKET/PREFIX`, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_with_or_without_a_prefix() {
        let l = S3Location::parse("s3://my-bucket/ftp/root/").unwrap();
        assert_eq!(
            (l.bucket.as_str(), l.prefix.as_str()),
            ("my-bucket", "ftp/root")
        );
        let l = S3Location::parse("s3://my-bucket").unwrap();
        assert_eq!(l.prefix, "");
        assert!(!l.uses_path_style());
        let with_endpoint = S3Location {
            endpoint: Some("http://127.0.0.1:9000".into()),
            ..l.clone()
        };
        assert!(with_endpoint.uses_path_style());
        let forced = S3Location {
            path_style: Some(false),
            ..with_endpoint
        };
        assert!(!forced.uses_path_style());
    }

    #[test]
    fn bad_urls_are_refused_with_a_reason() {
        for bad in [
            "/srv/ftp",
            "s3://",
            "s3://ab",
            "s3://My_Bucket/x",
            "s3://bucket/a/../b",
            "s3://bucket/a//b",
            "gs://bucket",
        ] {
            assert!(S3Location::parse(bad).is_err(), "{bad}");
        }
    }
}
