import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { ToolContext } from "../context.js";
import { registerChannelAddMember } from "./channel_add_member.js";
import { registerChannelCreate } from "./channel_create.js";
import { registerChannelInvite } from "./channel_invite.js";
import { registerChannelJoin } from "./channel_join.js";
import { registerChannelLeave } from "./channel_leave.js";
import { registerChannelList } from "./channel_list.js";
import { registerChannelMembers } from "./channel_members.js";
import { registerChannelRemoveMember } from "./channel_remove_member.js";
import { registerChannelRotateKeys } from "./channel_rotate_keys.js";
import { registerContactAdd } from "./contact_add.js";
import { registerContactList } from "./contact_list.js";
import { registerContactRemove } from "./contact_remove.js";
import { registerKeyPackage } from "./key_package.js";
import { registerOfferAnswer } from "./offer_answer.js";
import { registerOfferList } from "./offer_list.js";
import { registerReceive } from "./receive.js";
import { registerSend } from "./send.js";
import { registerWhoami } from "./whoami.js";

/** Registers every tool, in the order a host lists them: the everyday loop first. */
export function registerTools(server: McpServer, ctx: ToolContext): void {
  registerChannelCreate(server, ctx);
  registerChannelInvite(server, ctx);
  registerChannelJoin(server, ctx);
  registerSend(server, ctx);
  registerReceive(server, ctx);
  registerChannelList(server, ctx);
  registerChannelMembers(server, ctx);
  registerKeyPackage(server, ctx);
  registerChannelAddMember(server, ctx);
  registerChannelRemoveMember(server, ctx);
  registerChannelRotateKeys(server, ctx);
  registerChannelLeave(server, ctx);
  registerWhoami(server, ctx);
  registerContactList(server, ctx);
  registerContactAdd(server, ctx);
  registerContactRemove(server, ctx);
  registerOfferList(server, ctx);
  registerOfferAnswer(server, ctx);
}
