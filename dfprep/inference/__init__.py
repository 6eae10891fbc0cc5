"""Using a trained RUN on videos: predict (scores and a submission), evaluate (metrics of a submission against
labels), explain (Grad-CAM maps); inputs lists what predict reads; cli holds their Typer commands."""
