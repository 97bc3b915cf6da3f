// Customer use cases. Each runs inside the transaction it is given (see db/idempotency.ts).
import { randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/postgresql";
import { notFound } from "../errors.js";
import { registerCustomer, type Customer, type NewCustomer } from "./customer.js";
import type { CustomerRepository } from "./customer.repository.js";

export class CustomerService {
  constructor(
    private readonly repo: CustomerRepository,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async create(em: EntityManager, tenantId: string, input: NewCustomer): Promise<Customer> {
    const customer = registerCustomer(tenantId, randomUUID(), input, this.now());
    await this.repo.insert(em, customer);
    return customer;
  }

  async get(em: EntityManager, tenantId: string, id: string): Promise<Customer> {
    const customer = await this.repo.findById(em, tenantId, id);
    if (customer === null) throw notFound("CUSTOMER_NOT_FOUND", `customer ${id} not found`);
    return customer;
  }
}
