-- SPDX-License-Identifier: MIT
-- Credits granted for the current period on top of the monthly allowance (`agentcron users
-- credits USER --grant N`); they lapse when the period rolls over.
ALTER TABLE users ADD COLUMN granted_credits bigint NOT NULL DEFAULT 0 CHECK (granted_credits >= 0);
