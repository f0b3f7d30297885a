"""web room of Workflow Integrator."""
