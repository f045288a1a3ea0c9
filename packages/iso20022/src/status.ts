// Status and reason codes, shared by the two status reports (pain.002 to a customer, pacs.002
// between banks), which write and read them alike.
import { InputProblems, max105_text_length } from './common';
import { children, element, optionalText, type XmlElement } from './xml';

/**
 * A status code from the ISO external code list ExternalPaymentTransactionStatus1Code (ACCP, ACSC,
 * ACSP, ACTC, ACWC, PART, PDNG, RCVD, RJCT…): four upper-case letters. The list grows between
 * schema releases, so any four letters are accepted rather than a fixed set.
 */
const status_code_pattern = /^[A-Z]{4}$/;
/** A reason code from ExternalStatusReason1Code (AC01, AM04, MS03…): one to four letters and digits. */
const reason_code_pattern = /^[A-Z0-9]{1,4}$/;

export interface StatusReason {
  /** The ISO external reason code, such as AC01 (incorrect account number) or AM04 (insufficient funds). */
  readonly code: string;
  readonly additionalInformation?: string;
}

export interface StatusReasonRead {
  /** The reason code (Rsn/Cd), or the proprietary one (Rsn/Prtry) when the bank used its own. */
  readonly code: string | undefined;
  readonly proprietary: boolean;
  readonly additionalInformation: readonly string[];
}

export function checkStatusCode(problems: InputProblems, field: string, code: string | undefined): string | undefined {
  if (code !== undefined && !status_code_pattern.test(code)) problems.errors.push(`${field} must be four upper-case letters such as ACSC or RJCT; got ${JSON.stringify(code)}.`);
  return code;
}

export function writeStatusReasons(problems: InputProblems, field: string, list: readonly StatusReason[] | undefined): XmlElement[] {
  return (list ?? []).map((reason, index) => {
    if (!reason_code_pattern.test(reason.code)) problems.errors.push(`${field}[${index}].code must be one to four upper-case letters or digits such as AC01; got ${JSON.stringify(reason.code)}.`);
    const information = problems.optionalText(`${field}[${index}].additionalInformation`, reason.additionalInformation, max105_text_length);
    return element('StsRsnInf', [element('Rsn', [element('Cd', reason.code)]), information === undefined ? undefined : element('AddtlInf', information)]);
  });
}

export function readStatusReasons(node: unknown): StatusReasonRead[] {
  return children(node, 'StsRsnInf').map((reason) => {
    const code = optionalText(reason, 'Rsn', 'Cd');
    const proprietary = optionalText(reason, 'Rsn', 'Prtry');
    return {
      code: code ?? proprietary,
      proprietary: code === undefined && proprietary !== undefined,
      additionalInformation: children(reason, 'AddtlInf').map((line) => optionalText(line) ?? ''),
    };
  });
}
