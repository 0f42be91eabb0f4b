export const ROLES = ['user', 'service', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling, from the bearer token. Every tenant-scoped query takes one. */
export interface Principal {
  userId: string;
  orgId: string | null;
  role: Role;
}

/** Service and admin tokens act for their whole organization. */
export function isPrivileged(principal: Principal): boolean {
  return principal.role === 'service' || principal.role === 'admin';
}
