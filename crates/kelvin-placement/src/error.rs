use kelvin_model::EntityId;

/// What kind of problem a [`PlacementError`] reports; match on this, not on the message.
///
/// A workload that fits on no host is *not* an error: it is reported in
/// [`Plan::unplaced`](crate::Plan::unplaced) with the constraints that blocked it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PlacementErrorKind {
    /// The input breaks a documented precondition: a workload that is already placed, a
    /// duplicate id, a negative or NaN amount, a GPU request (not supported yet), or a host order
    /// that needs a marginal-power model when none was given.
    InvalidInput,
}

/// The error type of `kelvin-placement`: a kind, the entity concerned and a human-readable reason.
///
/// The message (`Display`) is the reason, which names the entity itself.
///
/// ```
/// use kelvin_model::{EntityId, Resources, Workload};
/// use kelvin_placement::{place, HostState, PlaceOptions, PlacementErrorKind};
///
/// let host = HostState::new(EntityId::new("h1")?, Resources::new(32.0, 128 << 30));
/// let running = Workload {
///     id: EntityId::new("web-1")?,
///     tenant: "shop".into(),
///     owner: String::new(),
///     requests: Resources::new(2.0, 4 << 30),
///     host: Some(EntityId::new("h1")?), // already placed: not pending
/// };
/// let err = place(&[host], &[running], None, &PlaceOptions::default()).unwrap_err();
/// assert_eq!(err.kind(), PlacementErrorKind::InvalidInput);
/// assert_eq!(err.workload().map(|w| w.as_str()), Some("web-1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}")]
pub struct PlacementError {
    kind: PlacementErrorKind,
    workload: Option<EntityId>,
    host: Option<EntityId>,
    reason: String,
}

impl PlacementError {
    /// An invalid-input error about a workload (for callers that build placement inputs, like
    /// the facade, and reject a workload before placement sees it).
    pub fn for_workload(id: &EntityId, reason: impl Into<String>) -> Self {
        PlacementError {
            kind: PlacementErrorKind::InvalidInput,
            workload: Some(id.clone()),
            host: None,
            reason: reason.into(),
        }
    }

    /// An invalid-input error about a host.
    pub(crate) fn for_host(id: &EntityId, reason: impl Into<String>) -> Self {
        PlacementError {
            kind: PlacementErrorKind::InvalidInput,
            workload: None,
            host: Some(id.clone()),
            reason: reason.into(),
        }
    }

    /// An invalid-input error about the call as a whole (options, missing model).
    pub(crate) fn for_call(reason: impl Into<String>) -> Self {
        PlacementError {
            kind: PlacementErrorKind::InvalidInput,
            workload: None,
            host: None,
            reason: reason.into(),
        }
    }

    /// The inspectable kind.
    pub fn kind(&self) -> PlacementErrorKind {
        self.kind
    }

    /// The workload the problem is about, if it is about one.
    pub fn workload(&self) -> Option<&EntityId> {
        self.workload.as_ref()
    }

    /// The host the problem is about, if it is about one.
    pub fn host(&self) -> Option<&EntityId> {
        self.host.as_ref()
    }

    /// Why it is a problem (the same text as `Display`).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}
