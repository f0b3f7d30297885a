"""templating room of Workflow Integrator."""
