//! One shape for every guard layer: look at the request, then pass it on (possibly with new
//! extensions) or answer with a problem. Keeps each layer a few lines of policy.

use crate::problem::Problem;
use futures::future::BoxFuture;
use lambda_http::{Body, Request, Response};
use std::future::Future;
use std::task::{Context, Poll};
use tower::{Layer, Service, ServiceExt};

pub trait Stage: Clone + Send + Sync + 'static {
    fn check(&self, req: Request) -> impl Future<Output = Result<Request, Problem>> + Send;
}

#[derive(Clone)]
pub struct StageLayer<St> {
    stage: St,
}

impl<St> StageLayer<St> {
    pub fn new(stage: St) -> Self {
        StageLayer { stage }
    }
}

impl<St: Clone, S> Layer<S> for StageLayer<St> {
    type Service = StageService<St, S>;
    fn layer(&self, inner: S) -> Self::Service {
        StageService {
            stage: self.stage.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
pub struct StageService<St, S> {
    stage: St,
    inner: S,
}

impl<St, S> Service<Request> for StageService<St, S>
where
    St: Stage,
    S: Service<Request, Response = Response<Body>, Error = lambda_http::Error> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response<Body>;
    type Error = lambda_http::Error;
    type Future = BoxFuture<'static, Result<Response<Body>, lambda_http::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let stage = self.stage.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            match stage.check(req).await {
                Ok(req) => inner.oneshot(req).await,
                Err(problem) => Ok(problem.into_response()),
            }
        })
    }
}
