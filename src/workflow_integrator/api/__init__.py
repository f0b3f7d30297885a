"""api room of Workflow Integrator."""
