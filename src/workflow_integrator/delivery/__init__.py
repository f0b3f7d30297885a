"""delivery room of Workflow Integrator."""
