// A cluster worker that never calls serveWorker(): the primary's startTimeout must end it.
setInterval(() => {}, 1000);
