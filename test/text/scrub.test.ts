import { textWasm } from '../../src/text/wasm.js';
import { Scrubber } from '../../src/text/scrub.js';

let scrubber: Scrubber;
beforeAll(async () => {
  scrubber = new Scrubber(await textWasm());
});

const scrub = (s: string) => scrubber.scrub(s);

test('e-mail addresses become <EMAIL>', () => {
  const r = scrub('Write to jane.doe+news@mail.example.co.uk, or to bob_99@example.org.');
  expect(r.text).toBe('Write to <EMAIL>, or to <EMAIL>.');
  expect(r.counts.email).toBe(2);
  expect(scrub('no address @ here, nor a@b, nor user@localhost').counts.email).toBe(0);
});

test('IPv4 and IPv6 addresses become <IP>', () => {
  const r = scrub('Hosts 192.168.0.1 and 10.0.0.255; v6 2001:db8::8a2e:370:7334, ::1 and fe80:0:0:0:200:f8ff:fe21:67cf.');
  expect(r.text).toBe('Hosts <IP> and <IP>; v6 <IP>, <IP> and <IP>.');
  expect(r.counts.ip).toBe(5);
  expect(scrub('::ffff:192.0.2.128 is mapped').text).toBe('<IP> is mapped');
  // Not addresses: out-of-range parts, times, too few groups, scope of C++.
  const none = scrub('999.1.1.1 at 10:30:45 or 1.2.3 and std::vector, version 1.2.3.4.5');
  expect(none.counts.ip).toBe(0);
  expect(none.text).toBe('999.1.1.1 at 10:30:45 or 1.2.3 and std::vector, version 1.2.3.4.5');
});

test('card-like numbers need 13-19 digits and a valid Luhn check digit', () => {
  const r = scrub('Visa 4111 1111 1111 1111, Amex 3782-822463-10005, plain 5555555555554444.');
  expect(r.text).toBe('Visa <CARD>, Amex <CARD>, plain <CARD>.');
  expect(r.counts.card).toBe(3);
  // Same lengths with a wrong check digit are left alone.
  const bad = scrub('Not a card: 4111 1111 1111 1112 or 5555555555554445.');
  expect(bad.counts.card).toBe(0);
  expect(bad.text).toBe('Not a card: 4111 1111 1111 1112 or 5555555555554445.');
});

test('phone numbers in common national and international shapes become <PHONE>', () => {
  const r = scrub(
    'Call (555) 123-4567, 555-123-4567, 555.123.4567, 1-800-555-0199, +44 20 7946 0958, +1 (212) 555-0100, 020 7946 0958 or 555-0199.',
  );
  expect(r.text).toBe('Call <PHONE>, <PHONE>, <PHONE>, <PHONE>, <PHONE>, <PHONE>, <PHONE> or <PHONE>.');
  expect(r.counts.phone).toBe(8);
});

test('ordinary numbers, dates and years are not scrubbed', () => {
  const text = 'In 1961 1962 1963 sales rose 3.14159 percent to $1,234,567 on 2023-01-15; page 12 of 300, ISBN 0-306-40615-2.';
  const r = scrub(text);
  expect(r.text).toBe(text);
  expect(r.counts).toEqual({ email: 0, phone: 0, ip: 0, card: 0 });
});

test('only the requested kinds are scrubbed', async () => {
  const onlyEmail = new Scrubber(await textWasm(), ['email']);
  const r = onlyEmail.scrub('mail a.b@example.com from 10.1.2.3 or call 555-123-4567');
  expect(r.text).toBe('mail <EMAIL> from 10.1.2.3 or call 555-123-4567');
  onlyEmail.dispose();
});

test('non-ASCII text around matches is kept intact', () => {
  const r = scrub('Grüße an müller@bücher.example.de — 電話 555-123-4567 ✓');
  expect(r.text).toBe('Grüße an <EMAIL> — 電話 <PHONE> ✓');
  expect(r.counts).toEqual({ email: 1, phone: 1, ip: 0, card: 0 });
});
