//! RFC 9728 protected resource metadata: how a client that got our 401
//! finds the authorization server to sign in with.

use std::sync::Arc;

use axum::{Json, Router, extract::State, routing::get};
use kit_serve::activity::{Activity, What};
use serde::Serialize;
use url::Url;

/// The metadata document, built once at start.
#[derive(Debug, Serialize)]
pub struct ResourceMetadata {
    pub resource: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorization_servers: Vec<String>,
    pub bearer_methods_supported: [&'static str; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    pub resource_name: String,
}

/// Where RFC 9728 §3.1 puts the metadata for `resource`: the well-known
/// segment inserted before the resource's path.
pub fn metadata_path(resource: &Url) -> String {
    let path = resource.path().trim_end_matches('/');
    format!("/.well-known/oauth-protected-resource{path}")
}

/// Absolute URL of the metadata, for the `resource_metadata` challenge parameter.
pub fn metadata_url(resource: &Url) -> String {
    let mut url = resource.clone();
    url.set_path(&metadata_path(resource));
    url.to_string()
}

/// Serves the document at the RFC 9728 path for the resource and at the
/// root path; each read is published to `activity` (a sign-in's first step).
pub fn router(metadata: ResourceMetadata, resource: &Url, activity: Activity) -> Router {
    let metadata = (Arc::new(metadata), activity);
    let handler = get(
        |State((document, activity)): State<(Arc<ResourceMetadata>, Activity)>| async move {
            activity.emit(What::MetadataFetched {
                document: "protected resource",
            });
            Json(document)
        },
    );
    let mut router = Router::new().route("/.well-known/oauth-protected-resource", handler.clone());
    let specific = metadata_path(resource);
    if specific != "/.well-known/oauth-protected-resource" {
        router = router.route(&specific, handler);
    }
    router.with_state(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_segment_goes_before_the_path() {
        let url = Url::parse("https://abc.trycloudflare.com/mcp").expect("url");
        assert_eq!(
            metadata_path(&url),
            "/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url(&url),
            "https://abc.trycloudflare.com/.well-known/oauth-protected-resource/mcp"
        );
    }
}
