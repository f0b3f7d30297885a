"""securechange room of Workflow Integrator."""
