// Email delivery through SMTP (nodemailer): a plain-text and an HTML part, in the tenant's name.
import nodemailer, { type Transporter } from "nodemailer";
import type { Notifier, VerificationMessage } from "./notifier.js";

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

export class SmtpNotifier implements Notifier {
  private readonly transport: Transporter;

  constructor(url: string, private readonly from: string) {
    this.transport = nodemailer.createTransport(url, {
      connectionTimeout: 5_000,
      greetingTimeout: 5_000,
      socketTimeout: 5_000,
    } as never);
  }

  async send(m: VerificationMessage): Promise<void> {
    if (m.channel !== "email") throw new Error("the SMTP notifier delivers email only");
    const minutes = Math.max(1, Math.round((m.expireTime.getTime() - m.sendTime.getTime()) / 60_000));
    const name = m.tenantName;
    await this.transport.sendMail({
      from: { name, address: this.from },
      to: m.destination,
      subject: `${name}: your verification code is ${m.code}`,
      text: `Your ${name} verification code is ${m.code}.\n\nIt expires in ${minutes} minutes. If you did not ask for it, ignore this email.\n`,
      html:
        `<p>Your ${escapeHtml(name)} verification code is</p>` +
        `<p style="font-size:28px;font-weight:bold;letter-spacing:4px">${m.code}</p>` +
        `<p>It expires in ${minutes} minutes. If you did not ask for it, ignore this email.</p>`,
    });
  }
}
