"""store room of Workflow Integrator."""
