// The customer lifecycle (DESIGN §7) as one table. Pure.
//
//   PENDING ──activate──► ACTIVE ◄──activate── SUSPENDED
//                           └──────suspend──────►┘
//   any status except CLOSED ──close──► CLOSED (terminal)

/** Where a customer is in its lifecycle (re-exported by customer.ts). */
export type CustomerStatus = "pending" | "active" | "suspended" | "closed";

export type LifecycleAction = "activate" | "suspend" | "close";

export const TRANSITIONS: Readonly<Record<CustomerStatus, Readonly<Partial<Record<LifecycleAction, CustomerStatus>>>>> = {
  pending: { activate: "active", close: "closed" },
  active: { suspend: "suspended", close: "closed" },
  suspended: { activate: "active", close: "closed" },
  closed: {},
};

/** The status an action leads to from `from`, or undefined when the table forbids it. */
export function nextStatus(from: CustomerStatus, action: LifecycleAction): CustomerStatus | undefined {
  return TRANSITIONS[from][action];
}

/** The statuses reachable in one step from `from`, in a stable order. */
export function allowedTransitions(from: CustomerStatus): CustomerStatus[] {
  const targets = new Set(Object.values(TRANSITIONS[from]));
  return (["pending", "active", "suspended", "closed"] as const).filter((s) => targets.has(s));
}
