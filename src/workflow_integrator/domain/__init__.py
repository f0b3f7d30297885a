"""domain room of Workflow Integrator."""
