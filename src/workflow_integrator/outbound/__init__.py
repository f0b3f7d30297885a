"""outbound room of Workflow Integrator."""
